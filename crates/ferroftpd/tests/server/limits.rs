//! Connection limits, timeouts, bans, control-channel abuse and bandwidth
//! throttling. Limits are small so the tests are quick; time is asserted
//! only as a lower bound, which a slow machine can only exceed.

use std::time::{Duration, Instant};

use crate::common::{Client, TestServer, TIMEOUT};
use ferroftpd::{BanPolicy, Rate, RateLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Connects from `local` (e.g. 127.0.0.2) to the server.
async fn connect_from(srv: &TestServer, local: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    socket.connect(srv.addr).await.unwrap()
}

/// Reads what the server sends until it closes; returns it as text.
async fn read_until_closed(mut stream: TcpStream) -> String {
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut buf))
        .await
        .expect("server closes");
    String::from_utf8_lossy(&buf).into_owned()
}

/// Waits until the server counts `n` connections.
async fn wait_for_connections(srv: &TestServer, n: usize) {
    let started = Instant::now();
    while srv.server.connection_count() != n {
        assert!(
            started.elapsed() < TIMEOUT,
            "{} connections, expected {n}",
            srv.server.connection_count()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn total_connection_limit() {
    let srv = TestServer::start_with(|b| b.max_connections(2)).await;
    let a = srv.client().await;
    let _b = srv.client().await;
    let refused = TcpStream::connect(srv.addr).await.unwrap();
    assert_eq!(
        read_until_closed(refused).await,
        "421 Too many connections. Service temporarily unavailable.\r\n"
    );
    drop(a);
    wait_for_connections(&srv, 1).await;
    srv.client().await.expect("NOOP", 200).await;
}

#[tokio::test]
async fn per_address_limit_leaves_other_addresses_served() {
    let srv = TestServer::start_with(|b| b.max_connections_per_ip(Some(2))).await;
    let _a = srv.client().await;
    let _b = srv.client().await;
    let refused = TcpStream::connect(srv.addr).await.unwrap();
    assert_eq!(
        read_until_closed(refused).await,
        "421 Too many connections from your address.\r\n"
    );
    let other = connect_from(&srv, "127.0.0.2").await;
    let mut other = Client::from_stream(other).await;
    assert_eq!(other.greeting.0, 220);
    other.login("user", "12345").await;
}

#[tokio::test]
async fn slots_are_released_when_a_session_dies_mid_transfer() {
    let srv = TestServer::start_with(|b| b.max_connections(1)).await;
    srv.write("big.bin", &vec![7u8; 32 * 1024 * 1024]);
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let data = c.epsv().await;
    c.expect("RETR big.bin", 125).await;
    drop(c);
    drop(data);
    wait_for_connections(&srv, 0).await;
    srv.user().await;
}

#[tokio::test]
async fn per_user_session_limit() {
    let srv = TestServer::start_with(|b| b.max_sessions_per_user(Some(1))).await;
    let first = srv.user().await;
    let mut second = srv.client().await;
    second.expect("USER user", 331).await;
    assert_eq!(
        second.cmd("PASS 12345").await,
        (530, "Too many sessions for this user.".into())
    );
    // Not a failed password: another user may log in on this connection.
    second.login("anonymous", "x").await;
    drop(first);
    let mut third = srv.client().await;
    let started = Instant::now();
    loop {
        third.expect("USER user", 331).await;
        if third.cmd("PASS 12345").await.0 == 230 {
            break;
        }
        assert!(started.elapsed() < TIMEOUT);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// The timeout tests below run on paused time: tokio's clock jumps to the
// next timer whenever every task waits, so a 5-second timeout takes no real
// time and is observed exactly. Client reads time out after TIMEOUT (10 s),
// so the server's timeouts here stay below it.

#[tokio::test(start_paused = true)]
async fn idle_sessions_time_out() {
    let srv = TestServer::start_with(|b| b.idle_timeout(Some(Duration::from_secs(5)))).await;
    let mut c = srv.user().await;
    c.expect("NOOP", 200).await;
    let last_command = tokio::time::Instant::now();
    assert_eq!(
        c.reply().await,
        (421, "Control connection timed out.".into())
    );
    assert_eq!(last_command.elapsed().as_secs(), 5);
    assert!(c.is_closed().await);
}

#[tokio::test]
async fn a_transfer_in_progress_is_not_idle() {
    let limits = RateLimits {
        write_per_connection: Rate::new(256 * 1024),
        ..Default::default()
    };
    let srv = TestServer::start_with(|b| {
        b.idle_timeout(Some(Duration::from_millis(300)))
            .rate_limits(limits)
    })
    .await;
    srv.write("f.bin", &vec![1u8; 256 * 1024]);
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let started = Instant::now();
    let (data, reply) = c.download("RETR f.bin").await;
    assert_eq!((data.len(), reply.0), (256 * 1024, 226));
    assert!(started.elapsed() > Duration::from_millis(300));
    // The idle time counts from the end of the transfer.
    c.expect("NOOP", 200).await;
}

#[tokio::test(start_paused = true)]
async fn connections_that_never_log_in_are_closed() {
    let srv = TestServer::start_with(|b| b.login_timeout(Some(Duration::from_secs(8)))).await;
    let mut c = srv.client().await;
    let connected = tokio::time::Instant::now();
    // Commands do not extend the login deadline.
    for _ in 0..3 {
        c.expect("NOOP", 200).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert_eq!(
        c.reply().await,
        (421, "Login timed out; closing connection.".into())
    );
    assert_eq!(connected.elapsed().as_secs(), 8);
    assert!(c.is_closed().await);
    // Logged-in sessions are not affected.
    let mut u = srv.user().await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    u.expect("NOOP", 200).await;
}

#[tokio::test]
async fn a_stalled_transfer_fails_and_the_session_goes_on() {
    let srv = TestServer::start_with(|b| b.data_timeout(Duration::from_millis(300))).await;
    srv.write("big.bin", &vec![0u8; 32 * 1024 * 1024]);
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let _data = c.epsv().await; // connected, never read
    c.expect("RETR big.bin", 125).await;
    assert_eq!(
        c.reply().await,
        (426, "Data connection timed out; transfer aborted.".into())
    );
    c.expect("NOOP", 200).await;
}

#[tokio::test]
async fn a_stalled_upload_fails_and_the_old_file_stays() {
    let srv = TestServer::start_with(|b| b.data_timeout(Duration::from_millis(300))).await;
    srv.write("f.bin", b"old");
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let mut data = c.epsv().await;
    c.expect("STOR f.bin", 125).await;
    data.write_all(b"some new bytes, then nothing")
        .await
        .unwrap();
    assert_eq!(
        c.reply().await,
        (426, "Data connection timed out; transfer aborted.".into())
    );
    assert_eq!(crate::common::read(&srv.path("f.bin")), b"old");
    c.expect("NOOP", 200).await;
}

#[tokio::test(start_paused = true)]
async fn passive_accept_times_out_with_425() {
    let srv = TestServer::start_with(|b| b.passive_accept_timeout(Duration::from_secs(5))).await;
    srv.write("f", b"x");
    let mut c = srv.user().await;
    let opened = tokio::time::Instant::now();
    c.expect("EPSV", 229).await; // never connected
    c.expect("RETR f", 150).await;
    assert_eq!(c.reply().await, (425, "Data connection timed out.".into()));
    assert_eq!(opened.elapsed().as_secs(), 5);
    c.expect("NOOP", 200).await;
}

/// A passive listener nobody connects to is closed at the passive timeout,
/// not held until the next command or the idle timeout: idle sessions must
/// not use up the passive port range.
#[tokio::test(start_paused = true)]
async fn an_unused_passive_listener_closes_at_the_passive_timeout() {
    let srv = TestServer::start_with(|b| b.passive_accept_timeout(Duration::from_secs(30))).await;
    srv.write("f", b"x");
    let mut c = srv.user().await;
    let text = c.expect("EPSV", 229).await;
    let port: u16 = text.split('|').nth(3).and_then(|p| p.parse().ok()).unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    tokio::time::sleep(Duration::from_secs(31)).await;
    let refused = TcpStream::connect(addr).await.map(drop);
    assert_eq!(
        refused.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionRefused),
        "the passive listener is still open"
    );
    c.expect("RETR f", 425).await;
    c.expect("NOOP", 200).await;
}

/// A client that connected in time keeps its data connection past the
/// passive timeout, until its RETR comes.
#[tokio::test(start_paused = true)]
async fn a_passive_connection_made_in_time_outlives_the_passive_timeout() {
    let srv = TestServer::start_with(|b| b.passive_accept_timeout(Duration::from_secs(5))).await;
    srv.write("f", b"data");
    let mut c = srv.user().await;
    let mut data = c.epsv().await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    c.expect("RETR f", 125).await;
    let mut got = Vec::new();
    data.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"data");
    assert_eq!(c.reply().await.0, 226);
}

#[tokio::test]
async fn active_connection_failure_gets_425() {
    let srv =
        TestServer::start_with(|b| b.active_connect_timeout(Duration::from_millis(500))).await;
    srv.write("f", b"x");
    let mut c = srv.user().await;
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    c.expect(format!("EPRT |1|127.0.0.1|{port}|"), 200).await;
    c.expect("RETR f", 150).await;
    assert_eq!(c.reply().await.0, 425);
    c.expect("NOOP", 200).await;
}

#[tokio::test]
async fn repeated_failures_ban_the_address_only() {
    let ban = BanPolicy {
        failures: 3,
        window: Duration::from_secs(60),
        duration: Duration::from_secs(60),
        ..BanPolicy::default()
    };
    let srv = TestServer::start_with(|b| b.ban(Some(ban)).max_login_attempts(2)).await;
    let mut c = srv.client().await;
    c.expect("USER user", 331).await;
    c.expect("PASS wrong", 530).await;
    c.expect("USER user", 331).await;
    assert_eq!(c.cmd("PASS wrong").await.0, 530);
    assert!(c.is_closed().await);
    // The third failure bans the address: this connection's next USER
    // gets 421 too.
    let mut c = srv.client().await;
    c.expect("USER user", 331).await;
    c.expect("PASS wrong", 530).await;
    assert_eq!(c.cmd("USER user").await.0, 421);
    let banned = TcpStream::connect(srv.addr).await.unwrap();
    assert_eq!(
        read_until_closed(banned).await,
        "421 Too many failed logins from your address; try again later.\r\n"
    );
    let mut other = Client::from_stream(connect_from(&srv, "127.0.0.2").await).await;
    other.login("user", "12345").await;
}

/// Connections opened before the ban cannot go on guessing: every USER and
/// PASS checks the ban, not only the accept.
#[tokio::test]
async fn a_ban_stops_connections_already_open() {
    let ban = BanPolicy {
        failures: 3,
        window: Duration::from_secs(60),
        duration: Duration::from_secs(60),
        ..BanPolicy::default()
    };
    let srv = TestServer::start_with(|b| b.ban(Some(ban)).max_login_attempts(100)).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut c = srv.client().await;
        c.expect("USER user", 331).await;
        open.push(c);
    }
    let mut guesser = srv.client().await;
    for _ in 0..3 {
        guesser.expect("USER user", 331).await;
        guesser.expect("PASS wrong", 530).await;
    }
    // Banned now: the right password on an open connection gets 421.
    let mut first = open.remove(0);
    assert_eq!(
        first.cmd("PASS 12345").await,
        (
            421,
            "Too many failed logins from your address; try again later.".into()
        )
    );
    assert!(first.is_closed().await);
    for mut c in open {
        assert_eq!(c.cmd("USER user").await.0, 421);
    }
    assert_eq!(guesser.cmd("USER user").await.0, 421);
    let mut other = Client::from_stream(connect_from(&srv, "127.0.0.2").await).await;
    other.login("user", "12345").await;
}

/// REIN gives back only what was left of the login deadline, so logging in
/// anonymously and REIN cannot keep a connection guessing forever.
#[tokio::test(start_paused = true)]
async fn rein_does_not_restart_the_login_deadline() {
    let srv = TestServer::start_with(|b| b.login_timeout(Some(Duration::from_secs(60)))).await;
    let mut c = srv.client().await;
    tokio::time::sleep(Duration::from_secs(57)).await;
    // 3 s of the deadline are left at this login.
    c.login("anonymous", "x").await;
    c.expect("REIN", 220).await;
    let rein = tokio::time::Instant::now();
    // Counted afresh from REIN, the deadline would be 60 s away.
    assert_eq!(
        c.reply().await,
        (421, "Login timed out; closing connection.".into())
    );
    assert_eq!(rein.elapsed().as_secs(), 3);
    assert!(c.is_closed().await);
}

#[tokio::test]
async fn bans_can_be_turned_off() {
    let srv = TestServer::start_with(|b| b.ban(None).max_login_attempts(1)).await;
    for _ in 0..15 {
        let mut c = srv.client().await;
        c.expect("USER user", 331).await;
        assert_eq!(c.cmd("PASS wrong").await.0, 530);
        assert!(c.is_closed().await);
    }
    srv.user().await;
}

#[tokio::test]
async fn unknown_commands_before_login_are_bounded() {
    let srv = TestServer::start_with(|b| b.max_unknown_commands_before_login(3)).await;
    let mut c = srv.client().await;
    for _ in 0..3 {
        assert_eq!(c.cmd("BOGUS").await.0, 500);
    }
    assert_eq!(
        c.cmd("BOGUS").await,
        (421, "Too many unknown commands; closing connection.".into())
    );
    assert!(c.is_closed().await);
    // An HTTP request is not an FTP client: closed at once.
    let mut http = srv.client().await;
    assert_eq!(http.cmd("GET / HTTP/1.1").await.0, 421);
    assert!(http.is_closed().await);
    // After login, unknown commands are only errors.
    let mut u = srv.user().await;
    for _ in 0..10 {
        assert_eq!(u.cmd("BOGUS").await.0, 500);
    }
    u.expect("NOOP", 200).await;
}

#[tokio::test(start_paused = true)]
async fn a_slow_dripping_client_is_cut_by_the_login_deadline() {
    let srv = TestServer::start_with(|b| b.login_timeout(Some(Duration::from_secs(5)))).await;
    let mut c = srv.client().await;
    // One byte a second, never a whole line.
    for b in b"USER aaaaaaaa" {
        if c.stream.get_mut().write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(c.reply().await.0, 421);
}

/// Lower bound on the seconds to move `bytes` at `rate` with the bucket's
/// burst (a tenth of a second, at least 16 KiB) already available.
fn min_seconds(bytes: usize, rate: u64) -> f64 {
    let burst = (rate as f64 / 10.0).max(16.0 * 1024.0);
    (bytes as f64 - burst) / rate as f64
}

#[tokio::test]
async fn per_connection_limits_slow_downloads_and_uploads() {
    let rate = 512 * 1024;
    let limits = RateLimits {
        write_per_connection: Rate::new(rate),
        read_per_connection: Rate::new(rate),
        ..Default::default()
    };
    let srv = TestServer::start_with(|b| b.rate_limits(limits)).await;
    let size = 512 * 1024;
    srv.write("f.bin", &vec![3u8; size]);
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let started = Instant::now();
    let (data, reply) = c.download("RETR f.bin").await;
    assert_eq!((data.len(), reply.0), (size, 226));
    assert!(
        started.elapsed().as_secs_f64() >= min_seconds(size, rate),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    assert_eq!(c.upload("STOR up.bin", &data).await.0 .0, 226);
    assert!(
        started.elapsed().as_secs_f64() >= min_seconds(size, rate),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(std::fs::read(srv.path("up.bin")).unwrap().len(), size);
}

/// Two sessions download at once under `limits`; returns how long it took
/// for both. The second session logs in as `second_user`.
async fn two_downloads(limits: RateLimits, second_user: (&str, &str)) -> (Duration, usize) {
    let srv = TestServer::start_with(|b| b.rate_limits(limits)).await;
    let size = 384 * 1024;
    srv.write("f.bin", &vec![5u8; size]);
    let mut a = srv.user().await;
    let mut b = srv.client().await;
    b.login(second_user.0, second_user.1).await;
    a.expect("TYPE I", 200).await;
    b.expect("TYPE I", 200).await;
    let started = Instant::now();
    let (ra, rb) = tokio::join!(a.download("RETR f.bin"), b.download("RETR f.bin"));
    assert_eq!((ra.0.len(), rb.0.len()), (size, size));
    (started.elapsed(), 2 * size)
}

#[tokio::test]
async fn a_users_sessions_share_the_user_limit() {
    let rate = 512 * 1024;
    let limits = RateLimits {
        write_per_user: Rate::new(rate),
        ..Default::default()
    };
    let (took, bytes) = two_downloads(limits, ("user", "12345")).await;
    // Together they moved both files under one limit.
    assert!(took.as_secs_f64() >= min_seconds(bytes, rate), "{took:?}");
}

#[tokio::test]
async fn the_total_limit_covers_every_user() {
    let rate = 512 * 1024;
    let limits = RateLimits {
        write_total: Rate::new(rate),
        ..Default::default()
    };
    let (took, bytes) = two_downloads(limits, ("anonymous", "x")).await;
    assert!(took.as_secs_f64() >= min_seconds(bytes, rate), "{took:?}");
}

#[tokio::test]
async fn abor_stops_a_throttled_transfer_promptly() {
    let limits = RateLimits {
        write_per_connection: Rate::new(64 * 1024),
        ..Default::default()
    };
    let srv = TestServer::start_with(|b| b.rate_limits(limits)).await;
    srv.write("f.bin", &vec![5u8; 4 * 1024 * 1024]);
    let mut c = srv.user().await;
    c.expect("TYPE I", 200).await;
    let _data = c.epsv().await;
    c.expect("RETR f.bin", 125).await;
    c.send("ABOR").await;
    assert_eq!(c.reply().await.0, 426);
    assert_eq!(c.reply().await.0, 226);
}
