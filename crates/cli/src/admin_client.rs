//! `ferroftpd who`, `top`, `kick`, `ban` and `unban`: clients of a running
//! server's admin API (docs/admin.md). One HTTP/1.1 request per
//! connection, over TCP or a Unix socket, with the standard library alone.

use std::io::{Read, Write};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use std::path::PathBuf;

use crate::args::{AdminAddress, AdminClient, Command};

/// How long a request may take, connecting included.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest reply read: thousands of sessions fit.
const MAX_REPLY: u64 = 64 << 20;

pub fn run(command: &Command) -> Result<()> {
    match command {
        Command::Who { admin, json } => {
            let sessions = Api::new(admin)?.get("sessions")?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&sessions)?);
            } else {
                print!("{}", table(&sessions));
            }
            Ok(())
        }
        Command::Top {
            admin,
            interval,
            count,
            once,
        } => top(
            &Api::new(admin)?,
            *interval,
            if *once { Some(1) } else { *count },
            *once,
        ),
        Command::Kick { admin, id } => {
            Api::new(admin)?.call("DELETE", &format!("sessions/{id}"), None)?;
            println!("session {id} ended");
            Ok(())
        }
        Command::Ban {
            admin,
            address,
            duration,
            keep_sessions,
        } => {
            let body = serde_json::json!({
                "address": address,
                "duration": duration,
                "kick": !keep_sessions,
            });
            let made = Api::new(admin)?.call("POST", "bans", Some(&body))?;
            let until = made["until"].as_str().unwrap_or("it is lifted");
            let kicked = made["kicked"].as_u64().unwrap_or(0);
            println!(
                "{} banned until {until}; {kicked} session(s) ended",
                made["address"].as_str().unwrap_or(address)
            );
            Ok(())
        }
        Command::Unban { admin, address } => {
            let path = format!("bans/{}", address.replace('/', "%2F"));
            Api::new(admin)?.call("DELETE", &path, None)?;
            println!("ban of {address} lifted");
            Ok(())
        }
        Command::HashPassword { .. } | Command::Generate { .. } => {
            unreachable!("handled in main")
        }
    }
}

fn top(api: &Api, interval: u64, count: Option<u64>, once: bool) -> Result<()> {
    let mut shown = 0;
    loop {
        let info = api.get("info")?;
        let sessions = api.get("sessions")?;
        let mut screen = String::new();
        if !once {
            // Home and clear, as top does.
            screen.push_str("\x1b[H\x1b[2J");
        }
        screen.push_str(&format!(
            "ferroftpd {}, up {}, {} connection(s), sent {}, received {}\n\n",
            info["version"].as_str().unwrap_or("?"),
            duration(info["uptime_seconds"].as_u64().unwrap_or(0)),
            info["connections"].as_u64().unwrap_or(0),
            size(info["bytes_sent"].as_u64().unwrap_or(0)),
            size(info["bytes_received"].as_u64().unwrap_or(0)),
        ));
        screen.push_str(&table(&sessions));
        print!("{screen}");
        std::io::stdout().flush()?;
        shown += 1;
        if count.is_some_and(|n| shown >= n) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(interval));
    }
}

/// The sessions as a table, one line each.
fn table(sessions: &Value) -> String {
    let empty = Vec::new();
    let list = sessions.as_array().unwrap_or(&empty);
    let mut rows = vec![[
        "ID".to_owned(),
        "USER".to_owned(),
        "ADDRESS".to_owned(),
        "SINCE".to_owned(),
        "DIRECTORY".to_owned(),
        "TRANSFER".to_owned(),
    ]];
    for s in list {
        let text = |key: &str| terminal_safe(s[key].as_str().unwrap_or("-"));
        rows.push([
            s["id"].to_string(),
            text("user"),
            text("address"),
            text("since"),
            text("directory"),
            transfer(&s["transfer"]),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == 5 {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&format!("{} session(s)\n", list.len()));
    out
}

/// `RETR /big.iso 12.0 MiB of 700.0 MiB (1%) 2.0 MiB/s 12345678 bytes`.
fn transfer(t: &Value) -> String {
    if t.is_null() {
        return "idle".to_owned();
    }
    let bytes = t["bytes"].as_u64().unwrap_or(0);
    let mut text = format!(
        "{} {} {}",
        terminal_safe(t["command"].as_str().unwrap_or("?")),
        terminal_safe(t["path"].as_str().unwrap_or(".")),
        size(bytes)
    );
    if let Some(total) = t["size"].as_u64() {
        text.push_str(&format!(" of {}", size(total)));
    }
    if let Some(p) = t["progress"].as_f64() {
        text.push_str(&format!(" ({:.0}%)", p * 100.0));
    }
    text.push_str(&format!(
        " {}/s {bytes} bytes",
        size(t["rate"].as_u64().unwrap_or(0))
    ));
    text
}

/// `text` with control characters (and backslashes) escaped: user names
/// and paths are the clients' choice, and an escape sequence printed as it
/// is would act on the operator's terminal.
fn terminal_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || c == '\\' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn duration(secs: u64) -> String {
    format!("{}h{:02}m{:02}s", secs / 3600, secs / 60 % 60, secs % 60)
}

/// A running server's admin API.
struct Api {
    address: AdminAddress,
    token: String,
}

impl Api {
    fn new(client: &AdminClient) -> Result<Api> {
        let (address, token_file) = locate(client, |name| std::env::var_os(name))?;
        Ok(Api {
            address,
            token: crate::admin::read_token(&token_file)?,
        })
    }

    fn get(&self, path: &str) -> Result<Value> {
        self.call("GET", path, None)
    }

    /// Sends one request; the reply's JSON, or an error with the API's
    /// reason.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let body = body.map(serde_json::to_vec).transpose()?;
        let host = match &self.address {
            AdminAddress::Tcp(addr) => addr.to_string(),
            AdminAddress::Unix(_) => "localhost".to_owned(),
        };
        let mut request = format!(
            "{method} /api/v1/{path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
             Connection: close\r\nAccept: application/json\r\n",
            self.token
        );
        if let Some(body) = &body {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body.as_deref().unwrap_or_default());
        let reply = self
            .exchange(&bytes)
            .with_context(|| format!("--admin-address {}", self.address))?;
        parse_reply(&reply)
    }

    fn exchange(&self, request: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut reply = Vec::new();
        match &self.address {
            AdminAddress::Tcp(addr) => {
                let mut s = std::net::TcpStream::connect_timeout(addr, TIMEOUT)?;
                s.set_read_timeout(Some(TIMEOUT))?;
                s.set_write_timeout(Some(TIMEOUT))?;
                s.write_all(request)?;
                s.take(MAX_REPLY).read_to_end(&mut reply)?;
            }
            AdminAddress::Unix(path) => {
                let mut s = std::os::unix::net::UnixStream::connect(path)?;
                s.set_read_timeout(Some(TIMEOUT))?;
                s.set_write_timeout(Some(TIMEOUT))?;
                s.write_all(request)?;
                s.take(MAX_REPLY).read_to_end(&mut reply)?;
            }
        }
        Ok(reply)
    }
}

/// The API's address and token file: each from its flag, else its
/// variable, else the config file (`--config`, else FERROFTPD_CONFIG), as
/// the server reads them.
fn locate(
    client: &AdminClient,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<(AdminAddress, PathBuf)> {
    let config = client
        .config
        .clone()
        .or_else(|| env("FERROFTPD_CONFIG").map(PathBuf::from));
    let file: Option<toml::Table> = match &config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("--config: {}: {e}", path.display()))?;
            Some(
                text.parse()
                    .map_err(|e| anyhow::anyhow!("--config: {}: {e}", path.display()))?,
            )
        }
        None => None,
    };
    let from_file = |key: &str| -> Result<Option<String>> {
        match file.as_ref().and_then(|t| t.get(key)) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => bail!("--config: {key}: expected a string"),
        }
    };
    let address = match &client.admin_address {
        Some(a) => a.clone(),
        None => {
            let (text, source) = match env("FERROFTPD_ADMIN_ADDRESS") {
                Some(v) => (v.to_string_lossy().into_owned(), "FERROFTPD_ADMIN_ADDRESS"),
                None => match from_file("admin_address")? {
                    Some(v) => (v, "admin_address of the config file"),
                    None => bail!(
                        "--admin-address: not given (nor FERROFTPD_ADMIN_ADDRESS, nor admin_address in a --config file)"
                    ),
                },
            };
            text.parse()
                .map_err(|e: String| anyhow::anyhow!("{source}: {e}"))?
        }
    };
    let token_file = match &client.admin_token_file {
        Some(f) => f.clone(),
        None => match env("FERROFTPD_ADMIN_TOKEN_FILE") {
            Some(v) => PathBuf::from(v),
            None => match from_file("admin_token_file")? {
                Some(v) => PathBuf::from(v),
                None => bail!(
                    "--admin-token-file: not given (nor FERROFTPD_ADMIN_TOKEN_FILE, nor admin_token_file in a --config file)"
                ),
            },
        },
    };
    Ok((address, token_file))
}

/// The JSON of a whole HTTP/1.1 reply (the server closes the connection
/// after it and sends a length, never chunks, for its fixed bodies).
fn parse_reply(reply: &[u8]) -> Result<Value> {
    let Some(split) = reply.windows(4).position(|w| w == b"\r\n\r\n") else {
        bail!("the server's reply is not HTTP");
    };
    let head = String::from_utf8_lossy(&reply[..split]);
    let body = &reply[split + 4..];
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("the server's reply has no status")?;
    let json: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).context("the server's reply is not JSON")?
    };
    if !(200..300).contains(&status) {
        let why = json["error"].as_str().unwrap_or("no reason given");
        match status {
            401 => bail!("the admin API refused the token (401): {why}"),
            _ => bail!("the admin API answered {status}: {why}"),
        }
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read_and_errors_carry_the_reason() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n[{\"id\":1}]";
        assert_eq!(parse_reply(ok).unwrap()[0]["id"], 1);
        let empty = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert!(parse_reply(empty).unwrap().is_null());
        let refused =
            b"HTTP/1.1 401 Unauthorized\r\n\r\n{\"error\":\"a valid bearer token is needed\"}";
        let e = parse_reply(refused).unwrap_err().to_string();
        assert!(e.contains("401") && e.contains("bearer token"), "{e}");
        assert!(parse_reply(b"garbage").is_err());
    }

    #[test]
    fn the_api_is_found_from_flags_the_environment_or_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("ferroftpd.toml");
        std::fs::write(
            &config,
            "admin_address = \"/run/admin.sock\"\nadmin_token_file = \"/etc/token\"\n",
        )
        .unwrap();
        let none = |_: &str| None;
        let client = |address: Option<&str>, config: Option<&std::path::Path>| AdminClient {
            admin_address: address.map(|a| a.parse().unwrap()),
            admin_token_file: None,
            config: config.map(PathBuf::from),
        };
        let (address, token) = locate(&client(None, Some(&config)), none).unwrap();
        assert_eq!(address, AdminAddress::Unix("/run/admin.sock".into()));
        assert_eq!(token, PathBuf::from("/etc/token"));
        // The flag, then the variable, win over the file.
        let env = |name: &str| match name {
            "FERROFTPD_ADMIN_TOKEN_FILE" => Some("/var/token".into()),
            "FERROFTPD_CONFIG" => Some(config.clone().into_os_string()),
            _ => None,
        };
        let (address, token) = locate(&client(Some("127.0.0.1:9180"), None), env).unwrap();
        assert_eq!(
            address,
            AdminAddress::Tcp("127.0.0.1:9180".parse().unwrap())
        );
        assert_eq!(token, PathBuf::from("/var/token"));
        let e = locate(&client(None, None), none).unwrap_err().to_string();
        assert!(e.starts_with("--admin-address: not given"), "{e}");
        let bad = |name: &str| (name == "FERROFTPD_ADMIN_ADDRESS").then(|| "nowhere".into());
        let e = locate(&client(None, None), bad).unwrap_err().to_string();
        assert!(e.starts_with("FERROFTPD_ADMIN_ADDRESS: "), "{e}");
    }

    #[test]
    fn transfers_read_as_a_line() {
        let t = serde_json::json!({"command": "RETR", "path": "/big", "bytes": 2048,
            "size": 4096, "progress": 0.5, "rate": 1024});
        assert_eq!(
            transfer(&t),
            "RETR /big 2.0 KiB of 4.0 KiB (50%) 1.0 KiB/s 2048 bytes"
        );
        assert_eq!(transfer(&Value::Null), "idle");
        // A client's escape sequence is shown, not sent to the terminal.
        let t = serde_json::json!({"command": "STOR", "path": "/a\u{1b}]0;x\u{7}\\b",
            "bytes": 1, "rate": 0});
        assert_eq!(
            transfer(&t),
            "STOR /a\\u{1b}]0;x\\u{7}\\\\b 1 B 0 B/s 1 bytes"
        );
        let row = table(&serde_json::json!([{"id": 1, "user": "x\ny", "transfer": null}]));
        assert!(row.contains("x\\ny"), "{row}");
    }
}
