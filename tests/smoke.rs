use natsws::test_server::{NatsServer, Transport};
use std::time::Duration;

#[test]
fn smoke_all_transports() {
    for t in Transport::ALL {
        let server = NatsServer::builder().transport(t).start().unwrap();
        let url = server.url(t).unwrap();
        eprintln!("{t:?} {url}");
        let nc = natsws::Options::new()
            .add_root_certificate_pem(server.ca_pem().as_bytes().to_vec())
            .connect(url.as_str())
            .unwrap();
        let sub = nc.subscribe("foo.>").unwrap();
        nc.flush().unwrap();
        nc.publish("foo.bar", "hello").unwrap();
        let m = sub.next_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(&m.payload[..], b"hello");
        let e = nc
            .request_timeout("nobody", "x", Duration::from_secs(2))
            .unwrap_err();
        assert_eq!(e.kind(), natsws::ErrorKind::NoResponders, "{e}");
        nc.close().unwrap();
    }
}
