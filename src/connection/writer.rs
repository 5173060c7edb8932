//! The writer thread: takes everything published since its last write, in one swap of the
//! shared buffer, and hands it to the transport in one write (one WebSocket frame per MiB).
//! While it writes, publishers keep appending; that is the coalescing. It parks on a condvar
//! when there is nothing to send, so an idle connection costs nothing.

use std::sync::Arc;

use crate::connection::shared::{Shared, IDLE_CAPACITY};

pub(crate) fn run(shared: Arc<Shared>, gen: u64) {
    let mut local: Vec<u8> = Vec::with_capacity(IDLE_CAPACITY);
    loop {
        {
            let mut w = shared.write.lock();
            if w.buf.is_empty() && !w.kicked && !w.closing && w.error.is_none() && !w.down {
                // Going idle: give big buffers back.
                if w.buf.capacity() > IDLE_CAPACITY {
                    w.buf = Vec::with_capacity(IDLE_CAPACITY);
                }
                if local.capacity() > IDLE_CAPACITY {
                    local = Vec::with_capacity(IDLE_CAPACITY);
                }
            }
            while w.buf.is_empty() && !w.kicked && !w.closing && w.error.is_none() && !w.down {
                w.writer_idle = true;
                shared.write_cv.wait(&mut w);
            }
            w.writer_idle = false;
            if w.error.is_some() || w.down {
                // Closed, or this transport is broken: what is queued is for the next one.
                return;
            }
        }
        // The transport first, then the bytes (see `Shared::out`).
        let mut out = shared.out.lock();
        let Some(o) = out.as_mut().filter(|o| o.gen == gen) else {
            return;
        };
        let closing;
        {
            let mut w = shared.write.lock();
            if w.error.is_some() || w.down {
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
            o.half.close();
            return;
        }
        if !shared.write_out(o, &mut local) {
            return;
        }
        drop(out);
        local.clear();
    }
}
