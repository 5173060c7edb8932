//! The writer thread: takes everything queued since its last write, in one swap of the
//! outbound buffer, and hands it to the transport in one write (one WebSocket frame per MiB).
//! While it writes, publishers keep appending; that is the coalescing. It parks when there is
//! nothing to send, so an idle connection costs nothing.

use std::sync::Arc;

use crate::connection::outbound::{Batch, Take, IDLE_CAPACITY};
use crate::connection::shared::Shared;

pub(crate) fn run(shared: Arc<Shared>, gen: u64) {
    let mut batch = Batch::with_capacity(IDLE_CAPACITY);
    while shared.outbound.wait_for_work(&mut batch) {
        // The transport first, then the queue (see `Shared::out`).
        let mut out = shared.out.lock();
        let Some(o) = out.as_mut().filter(|o| o.gen == gen) else {
            return;
        };
        match shared.outbound.take(&mut batch) {
            Take::Stop => return,
            Take::Close => {
                o.half.close();
                return;
            }
            Take::Write => {}
        }
        if !shared.write_batch(o, &batch) {
            return;
        }
        drop(out);
        batch.clear();
    }
}
