//! HTTP/1.1 framing over real sockets, under both I/O drivers: keep-alive, pipelining, bodies,
//! limits, HTTP/1.0, 100-continue and timeouts.

mod common;

use std::{io::Write, thread, time::Duration};

use common::{is_closed_by_peer, read_response, read_response_to, write_in_pieces, Server};

fn get(host: &str, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
}

per_driver!(
    keep_alive_serves_many_requests_on_one_connection,
    |driver| {
        let server = Server::start(driver);
        let mut stream = server.connect();
        for _ in 0..5 {
            stream.write_all(get("h", "/").as_bytes()).unwrap();
            let resp = read_response(&mut stream).unwrap();
            assert_eq!(resp.status, 200);
            assert!(!resp.closes());
            assert!(resp.header("date").is_some_and(|d| d.ends_with(" GMT")));
        }
    }
);

/// Three different requests so that the order of the answers is visible.
fn three_requests() -> String {
    format!(
        "{}{}{}",
        get("h", "/healthcheck"),
        get("h", "/"),
        "GET /nowhere HTTP/1.1\r\nHost: h\r\n\r\n"
    )
}

fn assert_three_answers(stream: &mut std::net::TcpStream) {
    let first = read_response(stream).unwrap();
    assert_eq!((first.status, first.text().as_str()), (200, "OK"));
    let second = read_response(stream).unwrap();
    assert_eq!(second.status, 200);
    assert!(second.json()["versions"].is_array());
    let third = read_response(stream).unwrap();
    assert_eq!(third.status, 300);
}

per_driver!(pipelined_requests_in_one_write_answer_in_order, |driver| {
    let server = Server::start(driver);
    let mut stream = server.connect();
    stream.write_all(three_requests().as_bytes()).unwrap();
    assert_three_answers(&mut stream);
    // The connection is still usable afterwards.
    stream
        .write_all(get("h", "/healthcheck").as_bytes())
        .unwrap();
    assert_eq!(read_response(&mut stream).unwrap().status, 200);
});

per_driver!(pipelined_requests_split_across_many_reads, |driver| {
    let server = Server::start(driver);
    for step in [1, 5, 17] {
        let mut stream = server.connect();
        write_in_pieces(&mut stream, three_requests().as_bytes(), step);
        assert_three_answers(&mut stream);
    }
});

per_driver!(many_pipelined_requests_fill_more_than_one_batch, |driver| {
    let server = Server::start(driver);
    let mut stream = server.connect();
    let mut batch = String::new();
    for _ in 0..400 {
        batch.push_str(&get("h", "/"));
    }
    stream.write_all(batch.as_bytes()).unwrap();
    for i in 0..400 {
        let resp = read_response(&mut stream).unwrap_or_else(|| panic!("response {i} missing"));
        assert_eq!(resp.status, 200, "response {i}");
    }
});

per_driver!(
    content_length_body_does_not_swallow_the_next_request,
    |driver| {
        let server = Server::start(driver);
        let mut stream = server.connect();
        let raw = format!(
        "POST /v2.1/versions/v2.1 HTTP/1.1\r\nHost: h\r\nX-Auth-Token: a:b\r\nContent-Length: 11\r\n\r\nGET / HTTP/{}",
        get("h", "/healthcheck")
    );
        write_in_pieces(&mut stream, raw.as_bytes(), 9);
        // The POST has no route (404) and its 11 body bytes look like a request but are body.
        read_response(&mut stream)
            .unwrap()
            .assert_fault(404, "itemNotFound");
        let next = read_response(&mut stream).unwrap();
        assert_eq!((next.status, next.text().as_str()), (200, "OK"));
    }
);

per_driver!(chunked_bodies_are_decoded_and_framed, |driver| {
    let server = Server::start(driver);
    let body = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
    let raw = format!(
        "POST /v2.1/versions/v2.1 HTTP/1.1\r\nHost: h\r\nX-Auth-Token: a:b\r\nTransfer-Encoding: chunked\r\n\r\n{body}{}",
        get("h", "/healthcheck")
    );
    for step in [raw.len(), 3] {
        let mut stream = server.connect();
        write_in_pieces(&mut stream, raw.as_bytes(), step);
        read_response(&mut stream)
            .unwrap()
            .assert_fault(404, "itemNotFound");
        assert_eq!(read_response(&mut stream).unwrap().status, 200);
    }
});

/// Sends `raw`, expects a fault with `status`/`key`, `Connection: close`, and a closed socket;
/// the pipelined request after it must not be answered.
fn assert_rejected(server: &Server, raw: &str, status: u16, key: &str) {
    let mut stream = server.connect();
    let _ = stream.write_all(format!("{raw}{}", get("h", "/")).as_bytes());
    let resp = read_response(&mut stream).unwrap_or_else(|| panic!("no response to {raw:?}"));
    resp.assert_fault(status, key);
    assert!(resp.closes(), "{raw:?} must close the connection");
    assert!(
        is_closed_by_peer(&mut stream),
        "{raw:?}: connection left open"
    );
}

// Every framing error (CL+TE, bad lengths and codings, Host, header syntax, chunk syntax)
// is a case of the desync suite: tests/desync.rs and tests/desync_cases.json.

per_driver!(limits_have_their_status, |driver| {
    let server = Server::with_conf(
        driver,
        "[ringnova]\nmax_request_line = 256\nmax_header_size = 2048\nmax_headers = 20\n\
         [oslo_middleware]\nmax_request_body_size = 1000\n",
    );
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(300));
    assert_rejected(&server, &long_uri, 414, "computeFault");
    let many: String = (0..25).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_rejected(
        &server,
        &format!("GET / HTTP/1.1\r\nHost: h\r\n{many}\r\n"),
        431,
        "computeFault",
    );
    let big = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n",
        "b".repeat(2100)
    );
    assert_rejected(&server, &big, 431, "computeFault");
    assert_rejected(
        &server,
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n",
        413,
        "overLimit",
    );
    let chunked = format!(
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n{}\r\n1\r\nx\r\n0\r\n\r\n",
        "c".repeat(1000)
    );
    assert_rejected(&server, &chunked, 413, "overLimit");
    // Exactly at the limits is fine.
    let at_limit = format!(
        "POST /v2.1/x HTTP/1.1\r\nHost: h\r\nX-Auth-Token: a\r\nContent-Length: 1000\r\n\r\n{}",
        "d".repeat(1000)
    );
    let resp = server.roundtrip(&at_limit);
    assert_eq!(resp.status, 404);
    let resp = server.roundtrip(&format!(
        "GET /{} HTTP/1.1\r\nHost: h\r\n\r\n",
        "a".repeat(200)
    ));
    assert_eq!(resp.status, 300);
});

per_driver!(the_413_message_names_the_limit, |driver| {
    let server = Server::start(driver);
    let resp = server.roundtrip("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 114689\r\n\r\n");
    resp.assert_fault(413, "overLimit");
    assert_eq!(
        resp.json()["overLimit"]["message"],
        "Request is too large. Larger than max_request_body_size (114688)."
    );
});

per_driver!(http10_closes_unless_keep_alive_is_asked, |driver| {
    let server = Server::start(driver);
    let mut stream = server.connect();
    stream
        .write_all(b"GET /healthcheck HTTP/1.0\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut stream).unwrap();
    assert_eq!(resp.status, 200);
    assert!(resp.closes());
    assert!(is_closed_by_peer(&mut stream));

    let mut stream = server.connect();
    for _ in 0..2 {
        stream
            .write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let resp = read_response(&mut stream).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("connection"), Some("keep-alive"));
    }
});

per_driver!(connection_close_is_honoured, |driver| {
    let server = Server::start(driver);
    let mut stream = server.connect();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(read_response(&mut stream).unwrap().closes());
    assert!(is_closed_by_peer(&mut stream));
});

per_driver!(head_requests_get_no_body, |driver| {
    let server = Server::start(driver);
    let mut stream = server.connect();
    stream
        .write_all(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let resp = read_response_to(&mut stream, true).unwrap();
    assert_eq!(resp.status, 200);
    let length: usize = resp.header("content-length").unwrap().parse().unwrap();
    assert!(length > 100);
    // Nothing else follows: the next response starts right away.
    stream
        .write_all(get("h", "/healthcheck").as_bytes())
        .unwrap();
    assert_eq!(read_response(&mut stream).unwrap().text(), "OK");
});

per_driver!(expect_100_continue, |driver| {
    let server = Server::start(driver);
    let mut stream = server.connect();
    stream
        .write_all(b"POST /v2.1/x HTTP/1.1\r\nHost: h\r\nX-Auth-Token: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        .unwrap();
    let interim = read_response(&mut stream).unwrap();
    assert_eq!(interim.status, 100);
    stream.write_all(b"body").unwrap();
    read_response(&mut stream)
        .unwrap()
        .assert_fault(404, "itemNotFound");

    // A body that is too large is refused without 100 Continue.
    let mut stream = server.connect();
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 999999\r\n\r\n",
        )
        .unwrap();
    read_response(&mut stream)
        .unwrap()
        .assert_fault(413, "overLimit");
    assert!(is_closed_by_peer(&mut stream));

    // HTTP/1.0 ignores the expectation.
    let mut stream = server.connect();
    stream.write_all(b"POST /v2.1/x HTTP/1.0\r\nX-Auth-Token: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok").unwrap();
    assert_eq!(read_response(&mut stream).unwrap().status, 404);
});

per_driver!(stalled_heads_time_out_with_408, |driver| {
    let server = Server::with_conf(
        driver,
        "[ringnova]\nheader_timeout = 0.3\nkeepalive_timeout = 0.3\n",
    );
    let mut stream = server.connect();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n").unwrap();
    let resp = read_response(&mut stream).unwrap();
    resp.assert_fault(408, "computeFault");
    assert!(is_closed_by_peer(&mut stream));

    // An idle keep-alive connection is closed without a response.
    let mut stream = server.connect();
    stream.write_all(get("h", "/").as_bytes()).unwrap();
    assert_eq!(read_response(&mut stream).unwrap().status, 200);
    thread::sleep(Duration::from_millis(600));
    assert!(is_closed_by_peer(&mut stream));
});

per_driver!(slow_header_trickle_still_times_out, |driver| {
    // The header timeout covers the whole head, not each read.
    let server = Server::with_conf(driver, "[ringnova]\nheader_timeout = 0.5\n");
    let mut stream = server.connect();
    let started = std::time::Instant::now();
    let mut closed = false;
    for byte in b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        if stream.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        thread::sleep(Duration::from_millis(50));
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    if !closed {
        let resp = read_response(&mut stream);
        assert!(resp.is_none_or(|r| r.status == 408));
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "trickling client was not cut off"
    );
});

per_driver!(trickled_body_hits_the_body_deadline, |driver| {
    // Each body byte comes well within `body_timeout` (60 s here), yet the whole body has
    // `body_deadline` to arrive: a client that stops short of it is answered 408 and closed
    // at the deadline, not after another read pause. The trickle ends before the deadline,
    // so the 408 is never racing a byte in flight.
    let server = Server::with_conf(driver, "[ringnova]\nbody_deadline = 3\n");
    let head = "POST /v2.1/x HTTP/1.1\r\nHost: h\r\nX-Auth-Token: a\r\nContent-Length: 10\r\n\r\n";
    // The head and `first` body bytes, then four bytes 100 ms apart.
    let trickle = |stream: &mut std::net::TcpStream, first: usize| {
        stream
            .write_all(format!("{head}{}", "x".repeat(first)).as_bytes())
            .unwrap();
        for _ in 0..4 {
            thread::sleep(Duration::from_millis(100));
            stream.write_all(b"x").unwrap();
        }
    };
    let mut stream = server.connect();
    trickle(&mut stream, 1);
    // The stream's read timeout (5 s) is far below the 60 s read pause.
    let resp = read_response(&mut stream).expect("a 408 at the body deadline");
    resp.assert_fault(408, "computeFault");
    assert!(is_closed_by_peer(&mut stream));

    // A body that arrives whole within the deadline, at the same pace, is answered.
    let mut stream = server.connect();
    trickle(&mut stream, 6);
    assert_eq!(read_response(&mut stream).unwrap().status, 404);
});

per_driver!(connection_cap_answers_503, |driver| {
    let server = Server::with_conf(driver, "[ringnova]\nmax_connections = 2\n");
    let mut held: Vec<_> = (0..2).map(|_| server.connect()).collect();
    for stream in &mut held {
        stream.write_all(get("h", "/").as_bytes()).unwrap();
        assert_eq!(read_response(stream).unwrap().status, 200);
    }
    let mut third = server.connect();
    let resp = read_response(&mut third).unwrap();
    resp.assert_fault(503, "serviceUnavailable");
    assert!(is_closed_by_peer(&mut third));
    // Once one is released, new connections are served again.
    drop(held.pop());
    thread::sleep(Duration::from_millis(100));
    assert_eq!(server.get("/healthcheck", "").status, 200);
});

per_driver!(absolute_form_targets_are_served, |driver| {
    let server = Server::start(driver);
    let resp = server
        .roundtrip("GET http://example.com/healthcheck HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(resp.text(), "OK");
});

per_driver!(bad_percent_encoding_is_a_400, |driver| {
    let server = Server::start(driver);
    let resp = server.roundtrip("GET /v2.1/%zz HTTP/1.1\r\nHost: h\r\n\r\n");
    resp.assert_fault(400, "badRequest");
    let resp = server.roundtrip("GET /v2.1/%ff HTTP/1.1\r\nHost: h\r\n\r\n");
    resp.assert_fault(400, "badRequest");
    let resp = server.roundtrip("GET /health%63heck HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(resp.text(), "OK");
});
