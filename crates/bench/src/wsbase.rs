//! The text baseline: the least a WebSocket broadcast server can do. No authentication, no
//! storage, no JSON: a connection says `join 0,3` once, then every text frame `<room> <body>`
//! goes as is to every connection in that room (the sender's too, as Confab echoes
//! `message.new`). It is built the way Confab's hub is (a task per connection, a bounded queue
//! each, batched writes with one flush, the same 8 KiB socket buffers), so the ratio between the two is the price of what
//! Confab adds: auth, membership checks, durable storage before the ack, sequence numbers and
//! the event envelope.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Each connection's outbound queue, in frames (as Confab's default session queue).
const QUEUE: usize = 1024;

type Rooms = Arc<RwLock<HashMap<u32, Vec<(u64, mpsc::Sender<Message>)>>>>;

/// Runs the server on a loopback port until killed; prints `baseline listening on ADDR`.
pub async fn main() -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("baseline listening on {}", listener.local_addr()?);
    let rooms: Rooms = Arc::default();
    let mut next_id = 0u64;
    loop {
        let (tcp, _) = listener.accept().await?;
        next_id += 1;
        tokio::spawn(connection(tcp, next_id, rooms.clone()));
    }
}

async fn connection(tcp: TcpStream, id: u64, rooms: Rooms) {
    let _ = tcp.set_nodelay(true);
    let Ok(mut ws) =
        tokio_tungstenite::accept_async_with_config(tcp, Some(crate::worker::ws_config())).await
    else {
        return;
    };
    let joined: Vec<u32> = match ws.next().await {
        Some(Ok(Message::Text(t))) => t
            .strip_prefix("join ")
            .unwrap_or_default()
            .split(',')
            .filter_map(|r| r.parse().ok())
            .collect(),
        _ => return,
    };
    let (tx, mut rx) = mpsc::channel(QUEUE);
    {
        let mut map = rooms.write().unwrap_or_else(|e| e.into_inner());
        for room in &joined {
            map.entry(*room).or_default().push((id, tx.clone()));
        }
    }
    drop(tx);
    if ws.send(Message::Text("ok".into())).await.is_ok() {
        serve(&mut ws, &mut rx, &rooms).await;
    }
    let mut map = rooms.write().unwrap_or_else(|e| e.into_inner());
    for room in &joined {
        if let Some(members) = map.get_mut(room) {
            members.retain(|(other, _)| *other != id);
        }
    }
}

async fn serve(
    ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>,
    rx: &mut mpsc::Receiver<Message>,
    rooms: &Rooms,
) {
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let room = text.split(' ').next().and_then(|r| r.parse::<u32>().ok());
                    let Some(room) = room else { continue };
                    // One shared buffer for all receivers: cloning the frame is a refcount.
                    let frame = Message::Text(text);
                    let map = rooms.read().unwrap_or_else(|e| e.into_inner());
                    for (_, member) in map.get(&room).into_iter().flatten() {
                        let _ = member.try_send(frame.clone());
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
            out = rx.recv() => {
                let Some(first) = out else { return };
                if ws.feed(first).await.is_err() {
                    return;
                }
                while let Ok(more) = rx.try_recv() {
                    if ws.feed(more).await.is_err() {
                        return;
                    }
                }
                if ws.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}
