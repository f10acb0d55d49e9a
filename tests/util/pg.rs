//! A real PostgreSQL server for the tests (and the benchmark): the one `.ci/run` started
//! (`PERSONACTL_TEST_PG_URL`, see `scripts/ci-postgres.sh`), or a throwaway cluster started
//! here from the Debian packages' binaries (`/usr/lib/postgresql/*/bin`). Neither available is
//! a loud failure, never a skip.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How to get a server, printed when there is none.
pub const HOW_TO: &str = "the PostgreSQL tests need a PostgreSQL server, and none could be had:\n  \
     - run `scripts/with-postgres.sh cargo test` (installs PostgreSQL from Debian packages when \
     missing, starts one on loopback, stops it afterwards; what `.ci/run` does), or\n  \
     - install PostgreSQL (`apt-get install postgresql`): the tests then start a throwaway \
     cluster themselves, or\n  \
     - set PERSONACTL_TEST_PG_URL=postgres://USER@HOST:PORT/DB to a server where USER may \
     CREATE DATABASE";

/// A throwaway cluster in a temporary folder, on 127.0.0.1 and a free port, with trust
/// authentication. Stopped and removed on drop, or by a watchdog when the test process dies.
pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    options: Vec<String>,
    as_postgres: bool,
}

/// The newest `/usr/lib/postgresql/N/bin` with `initdb` in it.
pub fn binaries() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Cluster {
    /// Starts a new cluster; `options` are extra `-c name=value` server settings.
    pub fn start(options: &[&str]) -> Result<Cluster, String> {
        let bin = binaries().ok_or("no PostgreSQL binaries under /usr/lib/postgresql")?;
        let dir = tempfile::Builder::new()
            .prefix("personactl-pg-")
            .tempdir_in("/tmp")
            .map_err(|e| e.to_string())?;
        // PostgreSQL refuses to run as root: run it as the `postgres` user, in a folder it owns.
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()))?;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let mut cluster = Cluster {
            bin,
            dir,
            port,
            options: options.iter().map(|s| (*s).to_owned()).collect(),
            as_postgres,
        };
        let data = cluster.data();
        let mut initdb = cluster.tool("initdb");
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .args(["--locale=C"]);
        run(&mut initdb)?;
        cluster.watchdog();
        cluster.resume()?;
        // Another process may have taken the port between the check and the start: retry once.
        if !cluster.is_up() {
            cluster.port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| e.to_string())?
                .port();
            cluster.resume()?;
        }
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Starts the server (again), waiting until it accepts connections.
    pub fn resume(&self) -> Result<(), String> {
        let mut opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {}",
            self.port,
            self.dir.path().display()
        );
        for o in &self.options {
            opts.push_str(" -c ");
            opts.push_str(o);
        }
        run(self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-o", &opts, "-w", "-t", "60", "start"]))
    }

    /// Stops the server (fast shutdown: connections are closed, data is kept).
    pub fn stop(&self) -> Result<(), String> {
        run(self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"]))
    }

    fn is_up(&self) -> bool {
        std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
    }

    /// The URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The server log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// A shell that stops the server and removes its folder once this process is gone (a
    /// static cluster is never dropped; a killed test never runs `Drop`).
    fn watchdog(&self) {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             pid=$(head -1 '{data}/postmaster.pid' 2>/dev/null) && kill -INT \"$pid\" 2>/dev/null; \
             for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 \"$pid\" 2>/dev/null || break; sleep 0.5; done; \
             rm -rf '{dir}'",
            pid = std::process::id(),
            data = self.data().display(),
            dir = self.dir.path().display(),
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = run(self.tool("pg_ctl").arg("-D").arg(self.data()).args([
            "-m",
            "immediate",
            "-w",
            "stop",
        ]));
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The server this test process uses: `PERSONACTL_TEST_PG_URL`, or a cluster started once.
enum Shared {
    External(String),
    Own(Cluster),
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        if let Ok(url) = std::env::var("PERSONACTL_TEST_PG_URL")
            && !url.is_empty()
        {
            return Shared::External(url);
        }
        // Tests only: durability is not under test here (the restart test has its own cluster).
        match Cluster::start(&["fsync=off", "max_connections=200"]) {
            Ok(c) => Shared::Own(c),
            Err(e) => panic!("{HOW_TO}\n(starting a throwaway cluster failed: {e})"),
        }
    })
}

/// `url` with its database name replaced by `db`.
pub fn with_db(url: &str, db: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let after = &rest[authority_end..];
    let query = after.find('?').map_or("", |q| &after[q..]);
    format!("{}/{db}{query}", &url[..start + authority_end])
}

/// A new, empty database on the shared server; its URL.
pub fn fresh_db() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let admin = match shared() {
        Shared::External(url) => url.clone(),
        Shared::Own(c) => c.url("postgres"),
    };
    let name = format!(
        "personactl_test_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    create_db(&admin, &name);
    with_db(&admin, &name)
}

/// Creates database `name` through the server at `admin`.
pub fn create_db(admin: &str, name: &str) {
    let mut client = postgres::Client::connect(admin, postgres::NoTls)
        .unwrap_or_else(|e| panic!("{HOW_TO}\n(connecting to {admin} failed: {e})"));
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
}

/// A direct connection, to look at the tables as they are.
pub fn client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).expect("the test database is reachable")
}
