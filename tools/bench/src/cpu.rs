//! CPU time read from `/proc` for the benchmarks: how busy the whole machine was, and how much of
//! that was this process and its descendants (the services it runs in-process, PostgreSQL and
//! its backends, nats-server). The rest is other work on the machine. The benchmarks print it,
//! so that a run slowed down by something else on the machine shows as one instead of passing
//! for our figure. (A host that runs this machine slower is not seen here.)

use std::time::Duration;

use anyhow::Context as _;

/// The kernel counts CPU time in USER_HZ ticks, 100 per second on Linux.
const TICK: Duration = Duration::from_millis(10);

/// CPU time used since boot, or over an interval once subtracted.
#[derive(Debug, Clone, Copy)]
pub struct CpuTimes {
    /// Every core's time in any state but idle and I/O wait.
    pub machine: Duration,
    /// This process's and its descendants' time, counting descendants that have exited.
    pub ours: Duration,
}

impl CpuTimes {
    pub fn now() -> anyhow::Result<Self> {
        Ok(Self {
            machine: machine_busy()?,
            ours: ours()?,
        })
    }

    /// The CPU time used between `earlier` and `self`.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            machine: self.machine.saturating_sub(earlier.machine),
            ours: self.ours.saturating_sub(earlier.ours),
        }
    }

    /// Busy time that was not ours: other processes, kernel threads (the kernel's block I/O
    /// workers among them, a little of which the benchmark itself causes) and, in a virtual
    /// machine, time the host gave to other guests (steal).
    pub fn others(self) -> Duration {
        self.machine.saturating_sub(self.ours)
    }

    /// The share of the machine's cores that others kept busy, for times taken `window` apart.
    pub fn others_share(self, window: Duration) -> anyhow::Result<f64> {
        let cores = std::thread::available_parallelism()?.get() as f64;
        Ok(self.others().as_secs_f64() / (window.as_secs_f64() * cores))
    }
}

/// `/proc/stat`'s first line: user nice system idle iowait irq softirq steal ...
fn machine_busy() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .context("no cpu line in /proc/stat")?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let busy: u64 = ticks.iter().take(8).sum::<u64>() - ticks[3] - ticks[4];
    Ok(TICK * busy as u32)
}

/// The CPU time of this process and of every process below it in the process tree, with the
/// time of their children that have exited and been reaped (a PostgreSQL backend that ended).
fn ours() -> anyhow::Result<Duration> {
    let processes: Vec<Process> = std::fs::read_dir("/proc")?
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            // A process may exit between the listing and the read.
            Process::read(pid)
        })
        .collect();
    let mut family = vec![std::process::id()];
    let mut ticks = 0;
    let mut next = 0;
    while let Some(&pid) = family.get(next) {
        next += 1;
        for p in &processes {
            if p.pid == pid {
                ticks += p.ticks;
            }
            if p.parent == pid {
                family.push(p.pid);
            }
        }
    }
    Ok(TICK * ticks as u32)
}

struct Process {
    pid: u32,
    parent: u32,
    /// utime + stime + cutime + cstime.
    ticks: u64,
}

impl Process {
    fn read(pid: u32) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name, field 2, is in parentheses and may hold spaces or parentheses.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // From field 3 (state) on: ppid is field 4, utime to cstime are fields 14 to 17.
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some(Self {
            pid,
            parent: field(4)? as u32,
            ticks: (14..=17).map(field).sum::<Option<u64>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_grandchilds_cpu_time_counts_as_ours_while_it_runs() {
        let own = || TICK * Process::read(std::process::id()).unwrap().ticks as u32;
        let (before, own_before) = (CpuTimes::now().unwrap(), own());
        // A shell that starts a shell that spins for a while, then sleeps: nothing has exited
        // when the time is read.
        let mut child = std::process::Command::new("sh")
            .args([
                "-c",
                "sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; sleep 2' & wait",
            ])
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        // Reading every process's times costs this process CPU time too; that is not counted.
        let descendants = || {
            let ours = CpuTimes::now().unwrap().since(before).ours;
            ours.saturating_sub(own() - own_before)
        };
        while descendants() < Duration::from_millis(100) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(child.try_wait().unwrap().is_none(), "still running");
        let used = CpuTimes::now().unwrap().since(before);
        assert!(descendants() >= Duration::from_millis(100), "{used:?}");
        assert!(used.machine + 2 * TICK >= used.ours, "{used:?}");
        child.wait().unwrap();
    }
}
