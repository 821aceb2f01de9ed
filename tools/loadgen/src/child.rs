//! The servers under test run as child processes; a [`ServerChild`] makes sure none outlives
//! the benchmark that started it.

use std::process::{Child, ExitStatus};

/// A child process that is killed (and reaped) when dropped.
pub struct ServerChild(Child);

impl ServerChild {
    pub fn new(child: Child) -> Self {
        Self(child)
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// How it ended, once it has exited on its own.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().ok().flatten()
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
