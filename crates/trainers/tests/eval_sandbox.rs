//! The code sandbox: passing and failing programs, and crashing, hanging and malicious ones that
//! must count as failed, never stall the harness and never escape it.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use trainers::eval::benchmark::CodeTask;
use trainers::eval::code::run_tests;
use trainers::eval::sandbox::{Sandbox, SandboxConfig, Verdict};

fn sandbox() -> Option<Sandbox> {
    let config = SandboxConfig {
        time_limit: Duration::from_secs(3),
        memory_bytes: 512 << 20,
        ..SandboxConfig::default()
    };
    match Sandbox::new(config) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("skipping: {e}");
            None
        }
    }
}

/// Runs `program`, checks it failed and returned well within the time limit + kill time.
fn fails(s: &Sandbox, program: &str) -> Verdict {
    let t = Instant::now();
    let out = s.run(program).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "took {:?}",
        t.elapsed()
    );
    assert!(!out.verdict.passed(), "{program:?} passed: {out:?}");
    out.verdict
}

#[test]
fn passing_failing_and_crashing_programs() {
    let Some(s) = sandbox() else { return };
    eprintln!(
        "isolation: {:?}, python {}",
        s.isolation(),
        s.python().display()
    );
    let ok = s
        .run("import math\nassert math.sqrt(4) == 2\nprint('hi')")
        .unwrap();
    assert_eq!(ok.verdict, Verdict::Passed, "{ok:?}");
    assert_eq!(ok.stdout.trim(), "hi");
    let v = fails(&s, "assert 1 == 2");
    assert_eq!(v, Verdict::Failed { code: 1 });
    let out = s.run("def f(:\n  pass").unwrap();
    assert!(out.stderr.contains("SyntaxError"), "{out:?}");
    fails(&s, "raise SystemExit(3)");
    fails(&s, "import os\nos.abort()");
    fails(&s, "def r(n):\n    return r(n + 1)\nr(0)");
}

#[test]
fn code_tasks_pass_and_fail_through_the_harness() {
    let Some(s) = sandbox() else { return };
    let task = CodeTask {
        test: "def check(c):\n    assert c(3) == 9\n\ncheck(sq)\n".into(),
        entry_point: Some("sq".into()),
        prompt_code: Some("def sq(x):\n    \"\"\"Square x.\"\"\"\n".into()),
    };
    assert!(
        run_tests(&s, "    return x * x\n```", &task)
            .unwrap()
            .verdict
            .passed()
    );
    assert!(
        run_tests(&s, "def sq(x):\n    return x ** 2\n```", &task)
            .unwrap()
            .verdict
            .passed()
    );
    assert!(
        !run_tests(&s, "    return x + x\n```", &task)
            .unwrap()
            .verdict
            .passed()
    );
    let mbpp = CodeTask {
        test: "\nassert add(1, 2) == 3\nassert add(0, 0) == 0\n".into(),
        entry_point: None,
        prompt_code: None,
    };
    assert!(
        run_tests(&s, "def add(a, b):\n    return a + b\n", &mbpp)
            .unwrap()
            .verdict
            .passed()
    );
    assert!(
        !run_tests(&s, "def add(a, b):\n    return a - b\n", &mbpp)
            .unwrap()
            .verdict
            .passed()
    );
}

#[test]
fn infinite_loops_are_killed_at_the_time_limit() {
    let Some(s) = sandbox() else { return };
    let t = Instant::now();
    assert_eq!(fails(&s, "while True:\n    pass"), Verdict::TimedOut);
    assert!(t.elapsed() >= Duration::from_secs(3));
    // Sleeping (no CPU) is caught by the wall clock too.
    assert_eq!(fails(&s, "import time\ntime.sleep(60)"), Verdict::TimedOut);
}

#[test]
fn fork_bombs_and_subprocesses_are_refused() {
    let Some(s) = sandbox() else { return };
    fails(&s, "import os\nwhile True:\n    os.fork()");
    fails(&s, "import subprocess\nsubprocess.run(['true'])");
    fails(&s, "import os\nos.system('echo hi')");
    fails(
        &s,
        "import multiprocessing\np = multiprocessing.Process(target=print)\np.start()\np.join()",
    );
    fails(&s, "import ctypes\nctypes.CDLL(None).fork()");
    fails(&s, "import os, signal\nos.kill(1, signal.SIGTERM)");
}

#[test]
fn huge_memory_fails() {
    let Some(s) = sandbox() else { return };
    let out = s
        .run("x = bytearray(4 * 1024 ** 3)\nprint(len(x))")
        .unwrap();
    assert!(!out.verdict.passed(), "{out:?}");
    assert!(out.stderr.contains("MemoryError"), "{out:?}");
    fails(&s, "a = []\nwhile True:\n    a.append(' ' * 10**7)");
}

#[test]
fn writes_outside_the_working_directory_are_refused() {
    let Some(s) = sandbox() else { return };
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("escaped.txt");
    let p = target.display();
    fails(&s, &format!("open('{p}', 'w').write('x')"));
    fails(
        &s,
        &format!("import os\nfd = os.open('{p}', os.O_WRONLY | os.O_CREAT)\nos.write(fd, b'x')"),
    );
    fails(
        &s,
        &format!("import pathlib\npathlib.Path('{p}').write_text('x')"),
    );
    fails(
        &s,
        &format!(
            "import shutil\nshutil.rmtree('{}')",
            outside.path().display()
        ),
    );
    assert!(!target.exists(), "a sandboxed program wrote {p}");
    assert!(outside.path().is_dir());
    // Inside its own directory a program may write.
    let ok = s
        .run("open('scratch.txt', 'w').write('x')\nassert open('scratch.txt').read() == 'x'")
        .unwrap();
    assert!(ok.verdict.passed(), "{ok:?}");
}

#[test]
fn network_is_unreachable() {
    let Some(s) = sandbox() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    fails(
        &s,
        &format!(
            "import socket\nc = socket.create_connection(('127.0.0.1', {port}), timeout=1)\nc.sendall(b'x')"
        ),
    );
    fails(
        &s,
        "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=1)",
    );
    assert!(
        listener.accept().is_err(),
        "the sandbox connected to the host"
    );
}

#[test]
fn huge_output_is_capped() {
    let Some(s) = sandbox() else { return };
    let out = s
        .run("import sys\nfor _ in range(10**6):\n    sys.stdout.write('y' * 100)")
        .unwrap();
    assert!(out.stdout.len() <= 4096);
    assert!(
        !out.verdict.passed(),
        "a program past the file-size limit should fail: {out:?}"
    );
}
