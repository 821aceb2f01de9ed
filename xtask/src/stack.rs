//! What `cargo xtask up` has started, stopped in the reverse order of starting: the web app
//! before the gateway, the services before nats-server and PostgreSQL, the identity provider last,
//! so nothing loses what it depends on while it drains. One line per stop says how long it took.
//!
//! Every process is started in a process group of its own, so a Ctrl-C in the terminal reaches
//! xtask alone (it would otherwise reach every process at once, in no order) and xtask does the
//! stopping.

use std::io::Write;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// How long a process gets to drain after SIGTERM before it is killed. The services finish
/// their requests and hand back their JetStream consumers within their own drain deadline,
/// which is shorter.
pub const DRAIN: Duration = Duration::from_secs(15);

/// Something started that can be stopped.
pub trait Running: AsAny {
    /// Stops it, waiting until it has exited.
    fn stop(&mut self);
}

/// A child process stopped with SIGTERM, killed if it has not exited after [`DRAIN`].
pub struct Process {
    child: Child,
    drain: Duration,
}

impl Process {
    /// Spawns `command` in a process group of its own.
    pub fn spawn(command: &mut Command) -> std::io::Result<Self> {
        let child = command.process_group(0).spawn()?;
        Ok(Self {
            child,
            drain: DRAIN,
        })
    }

    /// Whether it has exited, and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Running for Process {
    fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + self.drain;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running for orderflow_test_support::PgCluster {
    fn stop(&mut self) {
        // Fast shutdown, blocking until the server has exited.
        self.stop_in_place();
    }
}

/// The started things, by name, in order of start. Dropping the stack stops them in reverse,
/// also when start-up fails half-way or panics.
pub struct Stack<W: Write = std::io::Stdout> {
    started: Vec<(String, Box<dyn Running>)>,
    out: W,
}

impl Stack {
    /// A stack reporting its stops on stdout.
    pub fn new() -> Self {
        Self::reporting_to(std::io::stdout())
    }
}

impl<W: Write> Stack<W> {
    /// A stack reporting its stops to `out`.
    pub fn reporting_to(out: W) -> Self {
        Self {
            started: Vec::new(),
            out,
        }
    }

    /// Adds something just started; it will be stopped before everything added earlier.
    pub fn push(&mut self, name: impl Into<String>, running: impl Running + 'static) {
        self.started.push((name.into(), Box::new(running)));
    }

    /// The child processes among the started things, by name, for watching whether one died.
    pub fn processes(&mut self) -> impl Iterator<Item = (&str, &mut Process)> {
        self.started.iter_mut().filter_map(|(name, running)| {
            let any: &mut dyn std::any::Any = running.as_any();
            any.downcast_mut::<Process>().map(|p| (name.as_str(), p))
        })
    }

    /// Stops everything, last started first, with a line for each.
    pub fn stop_all(&mut self) {
        while let Some((name, mut running)) = self.started.pop() {
            let _ = write!(self.out, "  stopping {name}…");
            let _ = self.out.flush();
            let began = Instant::now();
            running.stop();
            let _ = writeln!(
                self.out,
                " stopped in {:.1} s",
                began.elapsed().as_secs_f64()
            );
        }
    }

    /// The writer the stop lines go to (tests read it).
    #[cfg(test)]
    pub fn out(&self) -> &W {
        &self.out
    }
}

impl<W: Write> Drop for Stack<W> {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// `dyn Running` to `dyn Any`, so the stack can find its processes.
pub trait AsAny {
    fn as_any(&mut self) -> &mut dyn std::any::Any;
}

impl<T: Running + 'static> AsAny for T {
    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Records when it is stopped.
    struct Recorder {
        name: &'static str,
        stops: Arc<Mutex<Vec<&'static str>>>,
    }

    impl Running for Recorder {
        fn stop(&mut self) {
            self.stops.lock().unwrap().push(self.name);
        }
    }

    #[test]
    fn stops_in_reverse_order_of_start_with_a_line_each() {
        let stops = Arc::new(Mutex::new(Vec::new()));
        let mut stack = Stack::reporting_to(Vec::new());
        for name in [
            "dev-idp",
            "nats-server",
            "postgres",
            "orders",
            "gateway",
            "web",
        ] {
            let stops = Arc::clone(&stops);
            stack.push(name, Recorder { name, stops });
        }
        stack.stop_all();
        assert_eq!(
            *stops.lock().unwrap(),
            [
                "web",
                "gateway",
                "orders",
                "postgres",
                "nats-server",
                "dev-idp"
            ]
        );
        let report = String::from_utf8(stack.out().clone()).unwrap();
        let named: Vec<&str> = report
            .lines()
            .map(|l| l.trim().split(['…', ' ']).nth(1).unwrap())
            .collect();
        assert_eq!(
            named,
            [
                "web",
                "gateway",
                "orders",
                "postgres",
                "nats-server",
                "dev-idp"
            ]
        );
        assert!(
            report.lines().all(|l| l.contains(" stopped in ")),
            "{report}"
        );
    }

    #[test]
    fn dropping_the_stack_stops_real_processes_last_first_and_each_exits() {
        // Each child writes its name to a shared file when SIGTERM arrives, then exits.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stops");
        let ready = |name: &str| dir.path().join(format!("{name}.ready"));
        let stack_out = {
            let mut stack = Stack::reporting_to(Vec::new());
            for name in ["first", "second", "third"] {
                let script = format!(
                    "trap 'echo {name} >> {log}; exit 0' TERM; touch {ready}; \
                     while true; do sleep 0.05; done",
                    log = log.display(),
                    ready = ready(name).display()
                );
                let process = Process::spawn(Command::new("sh").args(["-c", &script])).unwrap();
                stack.push(name, process);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while !["first", "second", "third"]
                .iter()
                .all(|n| ready(n).exists())
            {
                assert!(Instant::now() < deadline, "children did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(stack.processes().count(), 3);
            for (_, process) in stack.processes() {
                assert!(process.exited().is_none());
            }
            stack.stop_all();
            stack.out().clone()
        };
        let order = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            order.lines().collect::<Vec<_>>(),
            ["third", "second", "first"]
        );
        assert_eq!(String::from_utf8(stack_out).unwrap().lines().count(), 3);
    }

    #[test]
    fn a_process_that_ignores_sigterm_is_killed_after_its_drain_time() {
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready");
        // The file says the trap is set: a SIGTERM before that would end the shell at once.
        let script = format!(
            "trap '' TERM; touch {}; while true; do sleep 0.05; done",
            ready.display()
        );
        let mut process = Process::spawn(Command::new("sh").args(["-c", &script])).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready.exists() {
            assert!(Instant::now() < deadline, "the shell did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        process.drain = Duration::from_millis(300);
        let began = Instant::now();
        process.stop();
        assert!(process.exited().is_some());
        assert!(began.elapsed() >= Duration::from_millis(300));
    }
}
