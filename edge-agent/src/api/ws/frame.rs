//! The one WebSocket frame the direct writers produce: a server's unfragmented text frame.
//!
//! tungstenite frames everything a client's task sends; the direct writers (see [`super::direct`])
//! write update messages straight into the socket, behind this header, so that one message built at
//! commit goes to hundreds of screens without a copy.

/// A server's WebSocket frame header for an unfragmented text message (RFC 6455 §5.2: FIN and
/// opcode 1, no mask, the payload length in 1, 3 or 9 bytes).
pub(crate) struct FrameHeader {
    bytes: [u8; 10],
    len: usize,
}

impl FrameHeader {
    /// The header of a text frame of `payload` bytes.
    pub(crate) fn text(payload: usize) -> FrameHeader {
        let mut bytes = [0u8; 10];
        bytes[0] = 0x81;
        let len = if payload < 126 {
            bytes[1] = payload as u8;
            2
        } else if let Ok(short) = u16::try_from(payload) {
            bytes[1] = 126;
            bytes[2..4].copy_from_slice(&short.to_be_bytes());
            4
        } else {
            bytes[1] = 127;
            bytes[2..10].copy_from_slice(&(payload as u64).to_be_bytes());
            10
        };
        FrameHeader { bytes, len }
    }

    /// The header's bytes on the wire.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_headers_decode_at_every_length_boundary() {
        use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};
        for len in [0, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let payload = "x".repeat(len);
            let mut bytes = FrameHeader::text(len).bytes().to_vec();
            bytes.extend_from_slice(payload.as_bytes());
            let mut client =
                WebSocket::from_raw_socket(std::io::Cursor::new(bytes), Role::Client, None);
            let message = client.read().expect("one frame");
            assert_eq!(
                message.into_text().expect("text").as_str(),
                payload,
                "{len}"
            );
        }
    }
}
