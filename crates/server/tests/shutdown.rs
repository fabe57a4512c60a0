//! Graceful shutdown: once asked to stop, the server refuses new connections but finishes a request that is
//! already in flight.

use certwright_testkit::{Backend, TestServer};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_request_completes_while_new_connections_are_refused() {
    let s = TestServer::start(Backend::Sqlite).await;
    let addr = s.url.trim_start_matches("http://").to_owned();
    let body = r#"{"name":"late","role":"auditor"}"#;
    let head = format!(
        "POST /v1/tokens HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        s.admin_token,
        body.len()
    );
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stopping = tokio::spawn(s.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(TcpStream::connect(&addr).await.is_err(), "no new connections once stopping");
    assert!(!stopping.is_finished(), "the server waits for the request in flight");

    conn.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    tokio::time::timeout(Duration::from_secs(10), stopping).await.unwrap().unwrap();

    assert!(response.contains(r#""name":"late""#), "the late request was carried out: {response}");
}
