//! Azurite, Microsoft's Azure Storage emulator, started by the tests that keep
//! remote state in Azure Blob Storage: a real blob service, never a mock.
//!
//! The binary is `$CSPCTL_TEST_AZURITE_BIN`, else `.ci/azurite/node_modules/.bin/azurite-blob`
//! (where `.ci/run` installs it with npm), else `azurite-blob` on PATH. It listens
//! on a free port (port 0; the port is read from its readiness line) and keeps
//! blobs in memory. When it cannot be found the tests that need it say so and
//! skip, unless `CSPCTL_TEST_REQUIRE_AZURITE=1` (set by `.ci/run`), which makes
//! that a failure.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The emulator's well-known development account and key (public, documented by
/// Microsoft for Azurite).
pub const ACCOUNT: &str = "devstoreaccount1";
const KEY_BASE64: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A running Azurite blob service, stopped on drop.
pub struct Azurite {
    child: Child,
    pub port: u16,
}

fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CSPCTL_TEST_AZURITE_BIN") {
        return Some(PathBuf::from(path));
    }
    let installed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".ci/azurite/node_modules/.bin/azurite-blob");
    if installed.exists() {
        return Some(installed);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("azurite-blob"))
            .find(|candidate| candidate.exists())
    })
}

impl Azurite {
    /// Starts Azurite, or returns `None` (after saying why) when it is not
    /// installed and the run does not require it.
    pub fn start() -> Option<Azurite> {
        let Some(binary) = binary() else {
            assert!(
                std::env::var("CSPCTL_TEST_REQUIRE_AZURITE").as_deref() != Ok("1"),
                "Azurite is required (CSPCTL_TEST_REQUIRE_AZURITE=1) but was not found: run `npm install --prefix .ci/azurite azurite` or set CSPCTL_TEST_AZURITE_BIN"
            );
            eprintln!(
                "SKIPPED: Azurite not found (npm install --prefix .ci/azurite azurite, or CSPCTL_TEST_AZURITE_BIN); .ci/run installs it and never skips"
            );
            return None;
        };
        let mut child = Command::new(&binary)
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                "0",
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--disableTelemetry",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdout = child.stdout.take().expect("piped");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split_once("listens on http://127.0.0.1:")
                    .and_then(|(_, port)| port.trim().parse::<u16>().ok())
                {
                    let _ = sender.send(port);
                }
            }
        });
        // Waits for the readiness line; the limit is a hang guard only.
        let port = receiver
            .recv_timeout(Duration::from_secs(180))
            .expect("Azurite printed no readiness line");
        Some(Azurite { child, port })
    }

    pub fn blob_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment that points cspctl's `az://` state at this emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR", "true".to_owned()),
            ("AZURITE_BLOB_STORAGE_URL", self.blob_url()),
        ]
    }

    /// Creates a blob container (cspctl, like Terraform's azurerm backend, expects
    /// the container to exist), signed with the emulator's shared key.
    pub fn create_container(&self, name: &str) {
        let date = httpdate_now();
        let version = "2021-08-06";
        let string_to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{ACCOUNT}/{ACCOUNT}/{name}\nrestype:container"
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &base64_decode(KEY_BASE64));
        let signature = base64_encode(ring::hmac::sign(&key, string_to_sign.as_bytes()).as_ref());
        let request = format!(
            "PUT /{ACCOUNT}/{name}?restype=container HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nx-ms-date: {date}\r\nx-ms-version: {version}\r\nAuthorization: SharedKey {ACCOUNT}:{signature}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to Azurite");
        stream.write_all(request.as_bytes()).expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        assert!(
            answer.starts_with("HTTP/1.1 201"),
            "creating container {name}: {answer}"
        );
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn httpdate_now() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let (year, month, day) = civil(days as i64);
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        months[(month - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 as (year, month, day) (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Vec<u8> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let value = ALPHABET.iter().position(|a| *a == c).expect("base64") as u32;
        bits = bits << 6 | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}
