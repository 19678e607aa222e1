//! Coarse per-connection deadlines: one sweeper task per worker instead of a timer per read.
//!
//! Core worker only (`!Send`). Every connection owns a slot; an I/O future wrapped in
//! [`Deadlines::guard`] stores its deadline and waker in that slot when it has to wait. The
//! sweeper wakes up every [`TICK`], refreshes the worker's coarse clock and wakes the slots
//! whose deadline has passed; the woken future then sees the clock past its deadline and
//! returns [`Elapsed`]. Arming a deadline is a store into the slot — no timer-wheel insert and
//! removal per read — so the hot path pays nothing for timeouts that never fire. Deadlines
//! fire up to one tick late (and, since the clock is coarse, up to one tick early).

use std::{
    cell::{Cell, RefCell},
    future::Future,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

/// How often the sweeper runs: the resolution of every connection timeout.
pub const TICK: Duration = Duration::from_millis(100);

/// A deadline passed before the guarded future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

#[derive(Debug, Default)]
struct Slot {
    deadline: Option<Instant>,
    waker: Option<Waker>,
}

/// The worker's deadline table and coarse clock.
#[derive(Debug)]
pub struct Deadlines {
    slots: RefCell<Vec<Option<Slot>>>,
    free: RefCell<Vec<usize>>,
    now: Cell<Instant>,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            now: Cell::new(Instant::now()),
        }
    }
}

/// A connection's slot; released when dropped.
#[derive(Debug)]
pub struct SlotKey {
    deadlines: Rc<Deadlines>,
    index: usize,
}

impl Drop for SlotKey {
    fn drop(&mut self) {
        self.deadlines.slots.borrow_mut()[self.index] = None;
        self.deadlines.free.borrow_mut().push(self.index);
    }
}

impl Deadlines {
    /// The coarse clock (refreshed every tick).
    pub fn now(&self) -> Instant {
        self.now.get()
    }

    /// Takes a slot for a new connection.
    pub fn register(self: &Rc<Self>) -> SlotKey {
        let mut slots = self.slots.borrow_mut();
        let index = match self.free.borrow_mut().pop() {
            Some(index) => {
                slots[index] = Some(Slot::default());
                index
            }
            None => {
                slots.push(Some(Slot::default()));
                slots.len() - 1
            }
        };
        SlotKey {
            deadlines: Rc::clone(self),
            index,
        }
    }

    /// Runs `future` until it finishes or `timeout` passes (measured from the coarse clock).
    pub fn guard<'k, F: Future>(
        &self,
        key: &'k SlotKey,
        timeout: Duration,
        future: F,
    ) -> Guarded<'k, F> {
        Guarded {
            future,
            key,
            deadline: self.now() + timeout,
        }
    }

    /// The sweeper: refresh the clock and wake expired slots, every tick. It runs as long as
    /// the worker's runtime does.
    pub async fn sweep(self: Rc<Self>) {
        loop {
            monoio::time::sleep(TICK).await;
            let now = Instant::now();
            self.now.set(now);
            let mut expired = Vec::new();
            for slot in self.slots.borrow_mut().iter_mut().flatten() {
                if slot.deadline.is_some_and(|d| d <= now) {
                    slot.deadline = None;
                    expired.extend(slot.waker.take());
                }
            }
            expired.into_iter().for_each(Waker::wake);
        }
    }
}

pin_project_lite::pin_project! {
    /// A future with a deadline; see [`Deadlines::guard`].
    #[derive(Debug)]
    pub struct Guarded<'k, F> {
        #[pin]
        future: F,
        key: &'k SlotKey,
        deadline: Instant,
    }
}

impl<F: Future> Future for Guarded<'_, F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        let deadlines = &this.key.deadlines;
        if deadlines.now() >= *this.deadline {
            return Poll::Ready(Err(Elapsed));
        }
        let mut slots = deadlines.slots.borrow_mut();
        if let Some(slot) = slots[this.key.index].as_mut() {
            slot.deadline = Some(*this.deadline);
            match &slot.waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => slot.waker = Some(cx.waker().clone()),
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<F: Future>(future: F) -> F::Output {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        rt.block_on(future)
    }

    #[test]
    fn pending_futures_time_out_within_a_tick() {
        run(async {
            let deadlines = Rc::new(Deadlines::default());
            monoio::spawn(Rc::clone(&deadlines).sweep());
            let key = deadlines.register();
            let started = Instant::now();
            let out = deadlines
                .guard(
                    &key,
                    Duration::from_millis(150),
                    std::future::pending::<()>(),
                )
                .await;
            assert_eq!(out, Err(Elapsed));
            let waited = started.elapsed();
            assert!(waited >= Duration::from_millis(150) - TICK, "{waited:?}");
            assert!(waited < Duration::from_millis(150) + 3 * TICK, "{waited:?}");
        });
    }

    #[test]
    fn finished_futures_are_not_affected() {
        run(async {
            let deadlines = Rc::new(Deadlines::default());
            let key = deadlines.register();
            assert_eq!(
                deadlines
                    .guard(&key, Duration::from_millis(1), async { 7 })
                    .await,
                Ok(7)
            );
            let sleeper = monoio::time::sleep(Duration::from_millis(20));
            monoio::spawn(Rc::clone(&deadlines).sweep());
            assert_eq!(
                deadlines.guard(&key, Duration::from_secs(5), sleeper).await,
                Ok(())
            );
        });
    }

    #[test]
    fn slots_are_reused() {
        let deadlines = Rc::new(Deadlines::default());
        let a = deadlines.register();
        let index = a.index;
        drop(a);
        let b = deadlines.register();
        assert_eq!(b.index, index);
        assert_eq!(deadlines.slots.borrow().len(), 1);
    }
}
