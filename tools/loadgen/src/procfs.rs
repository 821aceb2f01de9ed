//! What the benchmarks read from `/proc`: a process's CPU time and resident memory (servers run
//! as separate processes so their share can be told apart from the load generator's), and this
//! process's open-file limit (every client connection costs one descriptor).

use crate::error::Error;

/// User plus system CPU time of `pid` in seconds (`utime + stime` of `/proc/<pid>/stat`).
pub fn cpu_seconds(pid: u32) -> Result<f64, Error> {
    let stat = read(pid, "stat")?;
    parse_cpu_ticks(&stat)
        // USER_HZ is 100 on every Linux configuration that exposes /proc to user space.
        .map(|ticks| ticks as f64 / 100.0)
        .ok_or_else(|| error(pid, "stat", "malformed".into()))
}

/// CPU seconds of this process (the load generator and its clients).
pub fn own_cpu_seconds() -> Result<f64, Error> {
    cpu_seconds(std::process::id())
}

/// Resident set size of `pid` in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> Result<u64, Error> {
    read(pid, "status")?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| error(pid, "status", "no VmRSS line".into()))
}

/// The text of `/proc/<pid>/<file>`.
fn read(pid: u32, file: &'static str) -> Result<String, Error> {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .map_err(|e| error(pid, file, e.to_string()))
}

fn error(pid: u32, file: &'static str, reason: String) -> Error {
    Error::Proc { pid, file, reason }
}

/// Fails with a message saying how to raise the limit when this process (and so the server
/// processes it starts, which inherit it) may open fewer than `need` descriptors.
pub fn check_file_limit(need: u64) -> Result<(), Error> {
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    let have = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    if have < need {
        return Err(Error::FileLimit { have, need });
    }
    Ok(())
}

/// `utime + stime` in clock ticks. The command name (field 2) may contain spaces and
/// parentheses, so fields are counted after its last `)`: utime (14) and stime (15) are then at
/// indices 11 and 12.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some(field(11)? + field(12)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_skip_a_command_name_with_spaces_and_parentheses() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 4 0 1 1 1";
        assert_eq!(parse_cpu_ticks(stat), Some(281));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn own_process_is_readable() {
        assert!(own_cpu_seconds().unwrap() >= 0.0);
        assert!(rss_kib(std::process::id()).unwrap() > 0);
    }
}
