//! The connection layer: an answer after which the server closes the connection says
//! `Connection: close`, so no client sends its next request on a connection that is
//! closing (CI's "connection reset by peer" in the hostile-input test; vendor/README.md).

use crate::backend_tests;
use crate::support::{Backend, TestApp};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

backend_tests!(
    a_request_that_cannot_be_read_on_a_kept_alive_connection_is_answered_with_connection_close
);

async fn a_request_that_cannot_be_read_on_a_kept_alive_connection_is_answered_with_connection_close(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let address = app.address.trim_start_matches("http://").to_string();
    // A head that has not ended after 140,000 bytes: actix-http reads 128 KiB of it at
    // most, then answers 431 (a head sent whole may be read in one go and pass).
    let oversized = format!(
        "GET /api/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: {}",
        "x".repeat(140_000)
    );
    let cases: [(&str, Vec<u8>, &str); 2] = [
        (
            "a header with a byte HTTP forbids",
            b"GET /api/whoami HTTP/1.1\r\nHost: x\r\nAuthorization: a\x01b\r\n\r\n".to_vec(),
            "400",
        ),
        ("a request head over 128 KiB", oversized.into_bytes(), "431"),
    ];
    for (what, request, status) in cases {
        let address = address.clone();
        tokio::task::spawn_blocking(move || {
            let mut stream = TcpStream::connect(&address).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            // A first request that is answered and keeps the connection.
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let first = read_answer(&mut stream).expect("an answer to /healthz");
            assert!(first.starts_with("HTTP/1.1 200"), "{first}");
            assert!(!says_close(&first), "/healthz keeps the connection: {first}");

            stream.write_all(&request).unwrap();
            let answer = read_answer(&mut stream)
                .unwrap_or_else(|| panic!("no answer to {what} on a kept-alive connection"));
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}")),
                "{what}: {answer}"
            );
            assert!(
                says_close(&answer),
                "{what} is answered without `Connection: close`, though the server then closes: {answer}"
            );
            // And the server does close it.
            let mut rest = [0u8; 1024];
            match stream.read(&mut rest) {
                Ok(0) => {}
                Ok(n) => panic!(
                    "{what}: the connection goes on with {n} more bytes: {:?}",
                    String::from_utf8_lossy(&rest[..n])
                ),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                Err(e) => panic!("{what}: the connection was neither closed nor reset: {e}"),
            }
        })
        .await
        .unwrap();
    }
}

/// The head of one answer, its body read past (by Content-Length); `None` at the end of
/// the stream.
fn read_answer(stream: &mut TcpStream) -> Option<String> {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) | Err(_) => return None,
            Ok(_) => bytes.push(byte[0]),
        }
    }
    let head = String::from_utf8_lossy(&bytes).into_owned();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    Some(head)
}

fn says_close(head: &str) -> bool {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .any(|(name, v)| {
            name.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close")
        })
}
