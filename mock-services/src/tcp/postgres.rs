//! The **postgres** mock: a tcp echo. It does not speak the Postgres wire protocol; it stands in
//! for the database so that scenarios can prove bytes flow (or do not) through the mesh's L4
//! intentions: every byte received is written back, and the connection stays open until the
//! peer closes it.

use bytes::BytesMut;

use super::{Flow, Session};

/// Echoes everything, whatever its framing.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Echo;

impl Session for Echo {
    fn feed(&mut self, input: &mut BytesMut, output: &mut BytesMut) -> Flow {
        output.extend_from_slice(input);
        input.clear();
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::config::{MockConfig, MockKind};
    use crate::test_support::spawn;

    #[test]
    fn echo_consumes_all_input_and_never_closes() {
        let mut input = BytesMut::from(&b"\x00\x01binary\xff"[..]);
        let mut output = BytesMut::new();
        assert_eq!(Echo.feed(&mut input, &mut output), Flow::Continue);
        assert!(input.is_empty());
        assert_eq!(&output[..], b"\x00\x01binary\xff");
    }

    #[tokio::test]
    async fn echoes_every_byte_back_over_one_long_connection() {
        let mock = spawn(MockKind::Postgres, MockConfig::default()).await;
        let mut stream = match tokio::net::TcpStream::connect(mock.addr).await {
            Ok(stream) => stream,
            Err(err) => panic!("connect: {err}"),
        };
        // Several writes, one larger than a read chunk: all of it comes back, in order.
        let big: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        let mut sent = Vec::new();
        for chunk in [&b"SELECT 1;"[..], &big, &b"\r\n\x00"[..]] {
            assert!(stream.write_all(chunk).await.is_ok());
            sent.extend_from_slice(chunk);
        }
        let mut got = vec![0u8; sent.len()];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut got)).await;
        assert!(matches!(read, Ok(Ok(_))), "{read:?}");
        assert_eq!(got, sent);
        // The connection stays open until the peer closes it: closing our side ends it cleanly.
        assert!(stream.shutdown().await.is_ok());
        let mut rest = Vec::new();
        let end = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut rest)).await;
        assert!(matches!(end, Ok(Ok(0))), "{end:?}");
    }
}
