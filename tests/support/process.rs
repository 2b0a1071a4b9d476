//! A server process a test started: killed (SIGKILL) when dropped, also when the test
//! panics, and frozen (SIGSTOP) or thawed on demand, as a hung host looks from outside.

use std::process::Child;

pub struct Process {
    child: Option<Child>,
}

impl Process {
    pub fn new(child: Child) -> Self {
        Process { child: Some(child) }
    }

    /// Kills the process and reaps it; nothing when it is not running.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // A frozen process dies of SIGKILL too.
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP: the kernel still accepts its connections, nothing answers them.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// SIGCONT: it answers what queued up meanwhile.
    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, sig: libc::c_int) {
        let child = self.child.as_ref().expect("the process is running");
        let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
        // SAFETY: kill(2) on our own child process, which has not been waited for.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig})");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
