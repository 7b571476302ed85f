//! What an operator sees and does through the library: `Server::sessions`
//! with a transfer in progress, `kick` mid-transfer, `ban` and `unban`.

use std::time::Duration;

use ferroftpd::registry::TransferDirection;
use ferroftpd::{Rate, RateLimits};
use tokio::io::AsyncReadExt;

use crate::common::{TestServer, TIMEOUT};

const SIZE: usize = 4 << 20;

/// A server whose downloads run at 256 KiB/s: a 4 MiB file takes 16 s.
async fn slow_server() -> TestServer {
    let limits = RateLimits {
        write_per_connection: Rate::new(256 * 1024),
        ..Default::default()
    };
    let srv = TestServer::start_with(|b| b.rate_limits(limits)).await;
    srv.write("dir/big.bin", &vec![7u8; SIZE]);
    srv
}

#[tokio::test]
async fn sessions_show_the_transfer_in_progress_and_kick_ends_it() {
    let srv = slow_server().await;
    let idle = srv.client().await;
    let mut c = srv.user().await;
    c.expect("CWD dir", 250).await;
    c.expect("TYPE I", 200).await;
    let mut data = c.epsv().await;
    c.send("RETR big.bin").await;
    // 125: the passive connection was made before RETR.
    assert_eq!(c.reply().await.0, 125);
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0;
    while received == 0 {
        received += data.read(&mut buf).await.unwrap();
    }
    let info = tokio::time::timeout(TIMEOUT, async {
        loop {
            let list = srv.server.sessions();
            let moving = list
                .iter()
                .find(|s| s.transfer.as_ref().is_some_and(|t| t.bytes > 0))
                .cloned();
            if let Some(s) = moving {
                return (s, list);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a transfer in progress");
    let (session, list) = info;
    assert_eq!(list.len(), 2);
    assert!(list.iter().any(|s| s.user.is_none()), "{list:?}");
    assert_eq!(session.user.as_deref(), Some("user"));
    assert_eq!(session.directory.as_deref(), Some("/dir"));
    let t = session.transfer.clone().unwrap();
    assert_eq!(t.direction, TransferDirection::Download);
    assert_eq!(
        (t.command, t.path.as_deref()),
        ("RETR", Some("/dir/big.bin"))
    );
    assert_eq!(t.size, Some(SIZE as u64));
    assert!(t.progress().unwrap() < 1.0);
    assert!(srv.server.throughput().sent >= t.bytes);

    assert!(srv.server.kick(session.id));
    assert_eq!(
        c.reply().await,
        (421, "Session closed by the administrator.".to_owned())
    );
    // The data connection ends too, long before the file would.
    let rest = tokio::time::timeout(TIMEOUT, async {
        let mut rest = 0;
        while let Ok(n) = data.read(&mut buf).await {
            if n == 0 {
                break;
            }
            rest += n;
        }
        rest
    })
    .await
    .expect("the data connection closes");
    assert!(received + rest < SIZE);
    assert!(c.is_closed().await);
    tokio::time::timeout(TIMEOUT, async {
        while srv.server.sessions().len() != 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the kicked session leaves the list");
    assert!(!srv.server.kick(session.id));
    drop(idle);
    srv.stop().await;
}

#[tokio::test]
async fn bans_refuse_connections_survive_a_reconfigure_and_lift() {
    let srv = TestServer::start().await;
    let loopback = "127.0.0.0/8".parse().unwrap();
    let c = srv.client().await;
    assert!(srv.server.ban(loopback, None));
    assert_eq!(srv.server.kick_from(loopback), 1);
    drop(c);
    let mut refused = crate::common::Client::connect(srv.addr).await;
    assert_eq!(refused.greeting.0, 421);
    assert!(refused.is_closed().await);
    srv.server
        .reconfigure(
            ferroftpd::Server::builder()
                .authorizer(srv.users.clone())
                .ban(None),
        )
        .unwrap();
    assert_eq!(srv.server.bans().len(), 1);
    assert_eq!(
        crate::common::Client::connect(srv.addr).await.greeting.0,
        421
    );
    assert!(srv.server.unban(loopback));
    assert!(srv.server.bans().is_empty());
    let ok = srv.client().await;
    assert_eq!(ok.greeting.0, 220);
    srv.stop().await;
}

#[tokio::test]
async fn a_connection_open_before_an_operators_ban_cannot_go_on_guessing() {
    let srv = TestServer::start().await;
    let mut c = srv.client().await;
    assert_eq!(c.cmd("USER user").await.0, 331);
    // Banned without ending the sessions already there.
    assert!(srv.server.ban("127.0.0.0/8".parse().unwrap(), None));
    let (code, text) = c.cmd("PASS 12345").await;
    assert_eq!(
        (code, text.as_str()),
        (421, "Connections from your address are refused.")
    );
    assert!(c.is_closed().await);
    srv.stop().await;
}
