//! The writer thread: takes everything published since its last write, in one swap of the
//! shared buffer, and hands it to the transport in one write (one WebSocket frame per MiB).
//! While it writes, publishers keep appending; that is the coalescing. It parks on a condvar
//! when there is nothing to send, so an idle connection costs nothing.

use std::sync::Arc;

use crate::connection::shared::{Ctl, Shared};
use crate::error::Error;
use crate::proto::scan;
use crate::transport::WriteHalf;

/// A buffer that grew beyond this is given back to the allocator after use.
const KEEP_CAPACITY: usize = 4 * 1024 * 1024;

pub(crate) fn run(shared: Arc<Shared>, mut out: Box<dyn WriteHalf>, gen: u64) {
    let mut local: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        let closing;
        {
            let mut w = shared.write.lock();
            while w.buf.is_empty() && !w.kicked && !w.closing && w.error.is_none() && !w.down {
                w.writer_idle = true;
                shared.write_cv.wait(&mut w);
            }
            w.writer_idle = false;
            if w.error.is_some() || w.down {
                // Closed, or this transport is broken: what is queued is for the next one.
                return;
            }
            w.kicked = false;
            closing = w.closing && w.buf.is_empty();
            std::mem::swap(&mut w.buf, &mut local);
            if w.space_waiters > 0 {
                shared.space_cv.notify_all();
            }
        }
        if closing {
            out.close();
            return;
        }
        let mut sent = 0;
        if let Err(e) = out.write_tracked(&local, &mut sent) {
            // Keep what never left, from the start of the operation it was cut in, for the
            // next connection.
            local.drain(..scan::op_start(&local, sent));
            shared.write.lock().unsent = local;
            let _ = shared.ctl.send(Ctl::Failed {
                gen,
                err: Error::io("writing to the server", e),
            });
            return;
        }
        local.clear();
        if local.capacity() > KEEP_CAPACITY {
            local = Vec::with_capacity(64 * 1024);
        }
    }
}
