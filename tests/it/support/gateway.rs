//! A launcher for `scripts/peers/trustless_gateway.py`: a trustless gateway written from the
//! spec, serving CARs and a folder of plain files on 127.0.0.1, optionally misbehaving
//! (`--fault`) and logging every request (`--log`). Killed (by PID) on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

/// How long the gateway may take to print its `LISTENING` line.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// What to start a gateway with.
#[derive(Default, Clone)]
pub struct GatewayBuilder {
    cars: Vec<PathBuf>,
    files_dir: Option<PathBuf>,
    files_cache_control: Option<String>,
    fault: Option<String>,
    fault_every: Option<u32>,
    fault_after: Option<u32>,
    stall_seconds: Option<f64>,
    log: bool,
    providers: Option<PathBuf>,
    port: u16,
}

impl GatewayBuilder {
    /// Loads a CAR (a path, or a file name under `vectors/car/`).
    pub fn car(mut self, car: impl AsRef<Path>) -> Self {
        let car = car.as_ref();
        let path = if car.is_absolute() || car.exists() {
            car.to_path_buf()
        } else {
            super::vector_car(&car.to_string_lossy())
        };
        assert!(path.is_file(), "{} is not a file", path.display());
        self.cars.push(path);
        self
    }

    /// Serves the files of `dir` under `/files/`.
    pub fn files_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.files_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Sends this `Cache-Control` with `/files/` answers.
    pub fn files_cache_control(mut self, value: &str) -> Self {
        self.files_cache_control = Some(value.to_string());
        self
    }

    /// Misbehaves: `--fault MODE` (see the script's header for the modes).
    pub fn fault(mut self, mode: &str) -> Self {
        self.fault = Some(mode.to_string());
        self
    }

    /// `--fault-every N`.
    pub fn fault_every(mut self, n: u32) -> Self {
        self.fault_every = Some(n);
        self
    }

    /// `--fault-after N`: the first N requests are served cleanly.
    pub fn fault_after(mut self, n: u32) -> Self {
        self.fault_after = Some(n);
        self
    }

    /// `--stall-seconds S` for the `stall` fault.
    pub fn stall_seconds(mut self, s: f64) -> Self {
        self.stall_seconds = Some(s);
        self
    }

    /// Answers `/routing/v1/providers/{cid}` from this JSON file
    /// (`{"<cid>": [{"ID": "<peer id>", "Addrs": ["<multiaddr>"]}]}`).
    pub fn providers(mut self, file: impl AsRef<Path>) -> Self {
        self.providers = Some(file.as_ref().to_path_buf());
        self
    }

    /// Listens on this port (a test that restarts its server keeps the URL; default: any).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Logs every request (see [`Gateway::requests`]).
    pub fn log(mut self) -> Self {
        self.log = true;
        self
    }

    /// Starts the gateway and waits until it listens.
    pub fn start(self) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let log = self.log.then(|| dir.path().join("requests.jsonl"));
        let mut cmd = Command::new("python3");
        cmd.arg(super::peers_dir().join("trustless_gateway.py"))
            .args(["--port", &self.port.to_string()]);
        for car in &self.cars {
            cmd.arg("--car").arg(car);
        }
        if let Some(files) = &self.files_dir {
            cmd.arg("--files-dir").arg(files);
        }
        if let Some(value) = &self.files_cache_control {
            cmd.args(["--files-cache-control", value]);
        }
        if let Some(fault) = &self.fault {
            cmd.args(["--fault", fault]);
        }
        if let Some(n) = self.fault_every {
            cmd.args(["--fault-every", &n.to_string()]);
        }
        if let Some(n) = self.fault_after {
            cmd.args(["--fault-after", &n.to_string()]);
        }
        if let Some(s) = self.stall_seconds {
            cmd.args(["--stall-seconds", &s.to_string()]);
        }
        if let Some(log) = &log {
            cmd.arg("--log").arg(log);
        }
        if let Some(file) = &self.providers {
            cmd.arg("--providers").arg(file);
        }
        // stderr to a file: the server prints tracebacks when a client hangs up on purpose.
        let stderr_path = dir.path().join("stderr.txt");
        let (child, rx) =
            super::spawn_listening(&mut cmd, &stderr_path, "python3 trustless_gateway.py");
        let mut gateway = Gateway {
            child,
            url: String::new(),
            log,
            _dir: dir,
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(url) => gateway.url = url,
            Err(_) => panic!(
                "trustless_gateway.py did not print LISTENING within {START_TIMEOUT:?} (exit status: {:?}); stderr:\n{}",
                gateway.child.try_wait(),
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            ),
        }
        gateway
    }
}

/// A running `trustless_gateway.py`.
pub struct Gateway {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    log: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

impl Gateway {
    /// A builder.
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder::default()
    }

    /// A well-behaved gateway serving these CARs (file names under `vectors/car/`).
    pub fn with_cars(cars: &[&str]) -> Gateway {
        cars.iter()
            .fold(Gateway::builder(), |b, car| b.car(car))
            .start()
    }

    /// The requests logged so far, one JSON object each (`n`, `method`, `path`, `status`,
    /// `accept`, `time`, and `fault`/`blocks`/`complete` where they apply). Needs
    /// [`GatewayBuilder::log`].
    pub fn requests(&self) -> Vec<serde_json::Value> {
        let log = self.log.as_ref().expect("start the gateway with .log()");
        match std::fs::read_to_string(log) {
            Ok(text) => text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("{}: {e}", log.display()),
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
