//! A private PostgreSQL cluster for one test (initdb into a temp folder, a
//! port of its own), so a test can stop, restart or reconfigure it without
//! touching the shared server at `PRIORAUTH_TEST_PG`. Run as the
//! `postgres` user when the tests run as root (initdb refuses root).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running private cluster; stopped and removed when dropped.
pub struct Cluster {
    pub dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
    as_postgres: bool,
}

/// The folder of initdb and pg_ctl: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/*/bin`.
fn bindir() -> Option<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|d| d.join("initdb").exists());
    from_pg_config.or_else(|| {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|d| d.join("initdb").exists())
            .collect();
        dirs.sort_by_key(|d| {
            d.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        });
        dirs.pop()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Cluster {
    /// Makes and starts a cluster (trust authentication, user `postgres`,
    /// on 127.0.0.1 only); with `tls`, `ssl=on` with that certificate and
    /// key. `None` when PostgreSQL's server programs are not installed.
    pub fn start(name: &str, tls: Option<(&Path, &Path)>) -> Option<Cluster> {
        let bin = bindir()?;
        let dir = std::env::temp_dir().join(format!("priorauth-pg-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Cluster {
            dir,
            port,
            bin,
            as_postgres: is_root(),
        };
        if cluster.as_postgres {
            assert!(Command::new("chown")
                .args(["postgres:postgres", cluster.dir.to_str().unwrap()])
                .status()
                .unwrap()
                .success());
        }
        let data = cluster.data();
        cluster.run(&[
            "initdb",
            "-D",
            &data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        if let Some((cert, key)) = tls {
            for (from, to) in [(cert, "server.crt"), (key, "server.key")] {
                let target = Path::new(&data).join(to);
                std::fs::copy(from, &target).unwrap();
                // The server reads its key only when no one else may.
                cluster.own(&target, "600");
            }
            let conf = Path::new(&data).join("postgresql.conf");
            let mut text = std::fs::read_to_string(&conf).unwrap();
            text.push_str("\nssl = on\n");
            std::fs::write(&conf, text).unwrap();
        }
        cluster.pg_ctl("start");
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.join("data").to_str().unwrap().to_string()
    }

    fn own(&self, path: &Path, mode: &str) {
        if self.as_postgres {
            assert!(Command::new("chown")
                .args(["postgres:postgres", path.to_str().unwrap()])
                .status()
                .unwrap()
                .success());
        }
        assert!(Command::new("chmod")
            .args([mode, path.to_str().unwrap()])
            .status()
            .unwrap()
            .success());
    }

    /// Runs one of PostgreSQL's programs, as `postgres` when root; its
    /// standard output.
    fn run(&self, args: &[&str]) -> String {
        let program = self.bin.join(args[0]);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = cmd.args(&args[1..]).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn pg_ctl(&self, action: &str) {
        let data = self.data();
        let log = self.dir.join("server.log");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let mut args = vec!["pg_ctl", "-D", &data, "-w", "-t", "60"];
        let log = log.to_str().unwrap().to_string();
        match action {
            "start" => args.extend(["-l", &log, "-o", &opts, "start"]),
            // Fast: open transactions are rolled back and their
            // connections cut, as in a restart of the real server.
            "stop" => args.extend(["-m", "fast", "stop"]),
            _ => panic!("pg_ctl {action}"),
        }
        self.run(&args);
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop(&self) {
        self.pg_ctl("stop");
    }

    /// Starts it again.
    pub fn start_again(&self) {
        self.pg_ctl("start");
    }

    /// The base URL (no database), as `PRIORAUTH_TEST_PG` is.
    pub fn base(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Runs SQL on its `postgres` database.
    pub fn admin(&self, sql: &str) {
        self.query(sql);
    }

    /// Runs SQL on its `postgres` database (over its socket, so TLS
    /// settings do not matter) and returns what psql printed.
    pub fn query(&self, sql: &str) -> String {
        self.run(&[
            "psql",
            "-h",
            self.dir.to_str().unwrap(),
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-qtAc",
            sql,
        ])
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let program = self.bin.join("pg_ctl");
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let _ = cmd.args(["-D", &data, "-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
