//! [`Sandbox`]: runs an untrusted Python program (a model's solution plus its tests) so that a
//! crashing, hanging or malicious program only ever counts as failed.
//!
//! Layers, each enough for some attacks and all of them together for the ones tested:
//! - a throw-away working directory (removed afterwards), cleared environment (`HOME`, `TMPDIR`
//!   point into it), Python's isolated mode (`-I`: no user site, no `PYTHON*` variables);
//! - a wall-clock limit: the whole process group is killed with `SIGKILL` when it runs out;
//! - resource limits set between `fork` and `exec` (`setrlimit`): address space, CPU seconds,
//!   file size, no core files, open files, and the number of processes;
//! - when running as root: the program runs as user `nobody` (65534), so files outside its
//!   directory cannot be written and the process limit applies;
//! - where the kernel allows it: new user, network and PID namespaces (`unshare`), so there is no
//!   network at all and killing the sandbox kills every process in it;
//! - inside Python, an audit hook (PEP 578, cannot be removed from Python code) that refuses
//!   writes and deletions outside the working directory, `fork`/`exec`/`subprocess`/`os.system`,
//!   signals to other processes, sockets and `ctypes`.
//!
//! [`Sandbox::new`] probes which of these the machine supports and [`Sandbox::isolation`] says
//! which are in force.

use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{Error, Result};

/// Limits of one run.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The Python interpreter (a name on `PATH` or a path).
    pub python: PathBuf,
    /// Wall-clock limit of one program.
    pub time_limit: Duration,
    /// Address-space limit in bytes.
    pub memory_bytes: u64,
    /// Largest file the program may write, in bytes.
    pub max_file_bytes: u64,
    /// Processes (threads) the program may add to those its user already runs.
    pub max_processes: u64,
    /// Bytes of stdout / stderr kept in the outcome.
    pub max_output_bytes: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            python: PathBuf::from("python3"),
            time_limit: Duration::from_secs(10),
            memory_bytes: 1 << 30,
            max_file_bytes: 16 << 20,
            max_processes: 32,
            max_output_bytes: 4096,
        }
    }
}

/// Which isolation layers are in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Isolation {
    /// The program runs as `nobody` (the harness runs as root).
    pub unprivileged_user: bool,
    /// User, network and PID namespaces.
    pub namespaces: bool,
}

/// How a program ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Verdict {
    /// Exit status 0: every test passed.
    Passed,
    /// A non-zero exit status (an assertion, an exception, a refused operation).
    Failed {
        /// The exit status.
        code: i32,
    },
    /// Killed by a signal (e.g. the CPU limit).
    Killed {
        /// The signal number.
        signal: i32,
    },
    /// The wall-clock limit ran out.
    TimedOut,
}

impl Verdict {
    /// Whether the program passed.
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Passed)
    }
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// How it ended.
    pub verdict: Verdict,
    /// The start of its stdout.
    pub stdout: String,
    /// The end of its stderr (where Python's traceback is).
    pub stderr: String,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The Python-side guard: an audit hook, then the program.
const GUARD: &str = r#"
import os, sys
_root = os.path.realpath(os.getcwd())
_abspath, _realpath, _fspath = os.path.abspath, os.path.realpath, os.fspath
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_DENY = {"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
         "subprocess.Popen", "os.kill", "os.killpg", "signal.pthread_kill", "pty.spawn",
         "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo",
         "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "sys.setprofile", "sys.settrace"}
_PATHS = {"os.remove", "os.rmdir", "os.rename", "os.replace", "shutil.rmtree", "os.mkdir",
          "os.chmod", "os.chown", "os.symlink", "os.link", "os.truncate", "os.utime",
          "os.chdir", "os.chroot", "os.mkfifo", "os.mknod", "shutil.move", "shutil.copyfile"}
def _inside(p):
    try:
        if isinstance(p, int):
            return True
        p = _fspath(p)
        if isinstance(p, bytes):
            p = p.decode("utf-8", "replace")
        r = _realpath(_abspath(p))
        return r == _root or r.startswith(_root + os.sep)
    except Exception:
        return False
def _hook(event, args):
    if event in _DENY or (event == "import" and args and args[0] in ("ctypes", "_ctypes", "cffi")):
        raise PermissionError("sandbox: " + event + " is not allowed")
    if event == "open":
        path, mode, flags = (list(args) + [None, None, None])[:3]
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                 (isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writes and not _inside(path):
            raise PermissionError("sandbox: writing outside the working directory")
    elif event in _PATHS:
        for a in args:
            if isinstance(a, (str, bytes, os.PathLike)) and not _inside(a):
                raise PermissionError("sandbox: " + event + " outside the working directory")
sys.addaudithook(_hook)
del _hook
with open("solution.py", encoding="utf-8") as _f:
    _src = _f.read()
del _f
exec(compile(_src, "solution.py", "exec"), {"__name__": "__main__"})
"#;

/// The user the program runs as when the harness is root.
const NOBODY: u32 = 65534;

/// A configured, probed sandbox.
#[derive(Debug, Clone)]
pub struct Sandbox {
    config: SandboxConfig,
    python: PathBuf,
    isolation: Isolation,
}

impl Sandbox {
    /// Resolves the interpreter and probes the isolation layers the machine supports (the
    /// strongest working combination wins). Errors when no interpreter runs at all.
    pub fn new(config: SandboxConfig) -> Result<Self> {
        let mut pythons = Vec::new();
        if let Some(p) = resolve_python(&config.python) {
            pythons.push(p);
        }
        let system = PathBuf::from("/usr/bin/python3");
        if system.is_file() && !pythons.contains(&system) {
            pythons.push(system);
        }
        let root = is_root();
        let modes = [
            Isolation {
                unprivileged_user: root,
                namespaces: true,
            },
            Isolation {
                unprivileged_user: root,
                namespaces: false,
            },
            Isolation {
                unprivileged_user: false,
                namespaces: true,
            },
            Isolation {
                unprivileged_user: false,
                namespaces: false,
            },
        ];
        for isolation in modes {
            for python in &pythons {
                let candidate = Self {
                    config: config.clone(),
                    python: python.clone(),
                    isolation,
                };
                if let Ok(out) = candidate.run("print('sandbox-ok')")
                    && out.verdict.passed()
                    && out.stdout.trim() == "sandbox-ok"
                {
                    return Ok(candidate);
                }
            }
        }
        Err(Error::config(
            "sandbox.python",
            format!(
                "no working Python interpreter for the code benchmarks (tried {})",
                config.python.display()
            ),
        ))
    }

    /// The isolation layers in force.
    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    /// The interpreter used.
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// Runs `program` in a fresh directory and reports how it ended. Errors only when the
    /// sandbox itself cannot be set up (no temp dir, no interpreter).
    pub fn run(&self, program: &str) -> Result<Outcome> {
        let dir = tempfile::Builder::new()
            .prefix("t2l-sandbox-")
            .tempdir()
            .map_err(|e| Error::io(&std::env::temp_dir(), e))?;
        let path = dir.path();
        let write = |name: &str, text: &str| {
            std::fs::write(path.join(name), text).map_err(|e| Error::io(&path.join(name), e))
        };
        write("guard.py", GUARD)?;
        write("solution.py", program)?;
        let out_path = path.join("stdout.txt");
        let err_path = path.join("stderr.txt");
        let stdout = File::create(&out_path).map_err(|e| Error::io(&out_path, e))?;
        let stderr = File::create(&err_path).map_err(|e| Error::io(&err_path, e))?;
        if self.isolation.unprivileged_user {
            for p in [
                path,
                &path.join("guard.py"),
                &path.join("solution.py"),
                &out_path,
                &err_path,
            ] {
                chown(p, NOBODY)?;
            }
        }

        let mut cmd = if self.isolation.namespaces {
            let mut c = Command::new("unshare");
            c.args([
                "--user",
                "--map-root-user",
                "--net",
                "--pid",
                "--fork",
                "--kill-child",
            ])
            .arg(&self.python);
            c
        } else {
            Command::new(&self.python)
        };
        cmd.args(["-I", "-B", "guard.py"])
            .current_dir(path)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", path)
            .env("TMPDIR", path)
            .env("LANG", "C.UTF-8")
            .env("PYTHONHASHSEED", "0")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let uid = if self.isolation.unprivileged_user {
            NOBODY
        } else {
            current_uid()
        };
        let limits = Limits {
            memory: self.config.memory_bytes,
            cpu_seconds: self.config.time_limit.as_secs() + 1,
            file: self.config.max_file_bytes,
            processes: tasks_of_user(uid) + self.config.max_processes,
            drop_to: self.isolation.unprivileged_user.then_some(NOBODY),
        };
        // SAFETY: the closure only makes async-signal-safe system calls (setsid, setrlimit,
        // setgroups, setgid, setuid) on values computed before the fork.
        unsafe {
            cmd.pre_exec(move || limits.apply());
        }
        let start = Instant::now();
        let mut child = cmd.spawn().map_err(|e| Error::io(&self.python, e))?;
        let pgid = child.id() as i32;
        let status = loop {
            match child.try_wait().map_err(|e| Error::io(&self.python, e))? {
                Some(status) => break Some(status),
                None if start.elapsed() >= self.config.time_limit => break None,
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        // Whatever is left in the group (stragglers, or everything on a timeout) dies now.
        // SAFETY: kill(2) on our own child's process group.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let status = match status {
            Some(s) => Some(s),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                None
            }
        };
        let seconds = start.elapsed().as_secs_f64();
        let verdict = match status {
            None => Verdict::TimedOut,
            Some(s) => {
                use std::os::unix::process::ExitStatusExt;
                match (s.code(), s.signal()) {
                    (Some(0), _) => Verdict::Passed,
                    (Some(code), _) => Verdict::Failed { code },
                    (None, Some(signal)) => Verdict::Killed { signal },
                    (None, None) => Verdict::Failed { code: -1 },
                }
            }
        };
        let max = self.config.max_output_bytes;
        Ok(Outcome {
            verdict,
            stdout: read_head(&out_path, max),
            stderr: read_tail(&err_path, max),
            seconds,
        })
    }
}

/// Limits applied in the child between `fork` and `exec`.
#[derive(Debug, Clone, Copy)]
struct Limits {
    memory: u64,
    cpu_seconds: u64,
    file: u64,
    processes: u64,
    drop_to: Option<u32>,
}

impl Limits {
    fn apply(&self) -> std::io::Result<()> {
        // Every call used here returns -1 on failure (setsid returns the new session id).
        let check = |r: libc::c_int| {
            if r != -1 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        };
        let set = |res, v: u64| {
            let lim = libc::rlimit {
                rlim_cur: v as libc::rlim_t,
                rlim_max: v as libc::rlim_t,
            };
            // SAFETY: setrlimit with a valid pointer to a local struct.
            check(unsafe { libc::setrlimit(res, &lim) })
        };
        // SAFETY: plain system calls without pointers (setsid, setgid, setuid) or with a null
        // list of length 0 (setgroups).
        unsafe {
            check(libc::setsid())?;
            if let Some(uid) = self.drop_to {
                check(libc::setgroups(0, std::ptr::null()))?;
                check(libc::setgid(uid))?;
                check(libc::setuid(uid))?;
            }
        }
        set(libc::RLIMIT_AS, self.memory)?;
        set(libc::RLIMIT_CPU, self.cpu_seconds)?;
        set(libc::RLIMIT_FSIZE, self.file)?;
        set(libc::RLIMIT_CORE, 0)?;
        set(libc::RLIMIT_NOFILE, 64)?;
        set(libc::RLIMIT_NPROC, self.processes)?;
        Ok(())
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

fn chown(path: &Path, uid: u32) -> Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(uid)).map_err(|e| Error::io(path, e))
}

/// The interpreter's real executable (`sys.executable`), so that version-manager shims work with
/// a cleared environment.
fn resolve_python(python: &Path) -> Option<PathBuf> {
    let out = Command::new(python)
        .args(["-c", "import sys; print(sys.executable)"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (out.status.success() && p.is_file()).then_some(p)
}

/// Tasks (threads) the user runs now: `RLIMIT_NPROC` counts them all.
fn tasks_of_user(uid: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut n = 0;
    for e in entries.flatten() {
        if !e
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        if field("Uid:") == Some(uid as u64) {
            n += field("Threads:").unwrap_or(1);
        }
    }
    n
}

fn read_head(path: &Path, max: usize) -> String {
    let mut buf = Vec::new();
    if let Ok(f) = File::open(path) {
        let _ = f.take(max as u64).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn read_tail(path: &Path, max: usize) -> String {
    let buf = std::fs::read(path).unwrap_or_default();
    let from = buf.len().saturating_sub(max);
    String::from_utf8_lossy(&buf[from..]).into_owned()
}
