//! Running external commands with a bounded wait, and stopping daemons by pid.

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::TestbedError;

/// How long an ordinary command (`ip`, `ovs-vsctl`, `ovs-ofctl`, ...) may take before it is killed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);

/// The captured result of a command that ran to completion.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// The command line, for messages.
    pub command: String,
    /// How it exited.
    pub status: ExitStatus,
    /// Everything it wrote to standard output (lossily decoded as UTF-8).
    pub stdout: String,
    /// Everything it wrote to standard error (lossily decoded as UTF-8).
    pub stderr: String,
}

impl CommandOutput {
    /// Turns a non-zero exit into [`TestbedError::Command`].
    pub fn into_success(self) -> Result<CommandOutput, TestbedError> {
        if self.status.success() {
            Ok(self)
        } else {
            Err(TestbedError::Command {
                command: self.command,
                status: self.status.to_string(),
                stdout: self.stdout,
                stderr: self.stderr,
            })
        }
    }
}

/// Renders a command line for error messages.
pub(crate) fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

fn spawn_reader<R: Read + Send + 'static>(source: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buffer = Vec::new();
        if let Some(mut source) = source {
            // A read error only truncates what we show; the exit status still decides.
            let _ = source.read_to_end(&mut buffer);
        }
        buffer
    })
}

/// Waits for `child` until `deadline`, polling with a short, growing interval. Kills it on timeout.
pub(crate) fn wait_with_deadline(
    child: &mut Child,
    command: &str,
    timeout: Duration,
) -> Result<ExitStatus, TestbedError> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(200);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {}
            Err(source) => {
                return Err(TestbedError::Spawn {
                    command: command.to_owned(),
                    source,
                })
            }
        }
        let now = Instant::now();
        if now >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(TestbedError::Timeout {
                command: command.to_owned(),
                timeout,
            });
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Runs `command` to completion (at most `timeout`), capturing its output. A non-zero exit is
/// returned as output, not as an error: see [`CommandOutput::into_success`].
pub fn run_with_timeout(
    mut command: Command,
    timeout: Duration,
) -> Result<CommandOutput, TestbedError> {
    let text = describe(&command);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|source| TestbedError::Spawn {
        command: text.clone(),
        source,
    })?;
    let stdout = spawn_reader(child.stdout.take());
    let stderr = spawn_reader(child.stderr.take());
    let status = wait_with_deadline(&mut child, &text, timeout)?;
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(CommandOutput {
        command: text,
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// Runs `program args...` with the default timeout and requires success; returns standard output.
pub fn run_ok<I, S>(program: &str, args: I) -> Result<String, TestbedError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(program);
    command.args(args);
    Ok(run_with_timeout(command, COMMAND_TIMEOUT)?
        .into_success()?
        .stdout)
}

/// Whether process `pid` exists and has not yet exited (a zombie counts as exited: in containers
/// nobody may reap orphaned daemons).
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // Format: "pid (comm) S ...": the state follows the last ')'.
            let state = stat
                .rfind(')')
                .and_then(|at| stat.get(at + 1..))
                .and_then(|rest| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

/// The command line of process `pid`, arguments joined by spaces (empty if it is gone).
pub fn pid_cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|byte| *byte == 0)
                .map(|part| String::from_utf8_lossy(part).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Reads a pid file (a decimal number and a newline).
pub fn read_pidfile(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn send_signal(pid: u32, signal: &str) {
    let mut command = Command::new("kill");
    command.arg(format!("-{signal}")).arg(pid.to_string());
    // The process may have exited in between: a failure here is checked by the caller's wait.
    let _ = run_with_timeout(command, COMMAND_TIMEOUT);
}

/// Waits until `pid` has exited, polling, for at most `timeout`. Returns whether it exited.
pub fn wait_pid_exit(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(500);
    while pid_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    true
}

/// Stops process `pid` if it is alive and its command line contains `marker` (protection against
/// a recycled pid): SIGTERM, up to `grace` to exit, then SIGKILL. Returns whether it is gone.
pub fn stop_pid(pid: u32, marker: &str, grace: Duration) -> bool {
    if !pid_alive(pid) {
        return true;
    }
    if !pid_cmdline(pid).contains(marker) {
        return true;
    }
    send_signal(pid, "TERM");
    if wait_pid_exit(pid, grace) {
        return true;
    }
    send_signal(pid, "KILL");
    wait_pid_exit(pid, Duration::from_secs(5))
}

/// Kills process `pid` at once with SIGKILL, without checking what it is.
pub fn kill_pid(pid: u32) {
    if pid_alive(pid) {
        send_signal(pid, "KILL");
        let _ = wait_pid_exit(pid, Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo out; echo err >&2; exit 3"]);
        let output = run_with_timeout(command, Duration::from_secs(5)).unwrap();
        assert_eq!(output.stdout, "out\n");
        assert_eq!(output.stderr, "err\n");
        assert_eq!(output.status.code(), Some(3));
        let error = output.into_success().unwrap_err();
        assert!(error.to_string().contains("sh -c"), "{error}");
    }

    #[test]
    fn kills_a_command_that_overruns() {
        let mut command = Command::new("sleep");
        command.arg("30");
        let started = Instant::now();
        let error = run_with_timeout(command, Duration::from_millis(100)).unwrap_err();
        assert!(matches!(error, TestbedError::Timeout { .. }), "{error}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let error = run_ok("definitely-not-a-program-ovs-ec2", ["x"]).unwrap_err();
        assert!(matches!(error, TestbedError::Spawn { .. }), "{error}");
    }

    #[test]
    fn our_own_pid_is_alive_and_a_bogus_one_is_not() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(u32::MAX - 1));
        assert!(pid_cmdline(std::process::id()).len() > 1);
    }
}
