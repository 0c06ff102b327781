//! The byte framing of `/x0/sync/1` on a libp2p stream: one request and one response per
//! stream, each a `u32` big-endian length and that many bytes. The length is checked
//! against the protocol's limits before anything is allocated; what the bytes mean is the
//! sync core's to decode (`x0_core::sync::wire`).

use std::io;

use futures::prelude::*;
use libp2p::request_response;
use libp2p::StreamProtocol;
use x0_core::sync::wire::{REQUEST_BYTES_MAX, RESPONSE_BYTES_MAX};

pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/x0/sync/1");

#[derive(Debug, Clone, Copy, Default)]
pub struct SyncCodec;

async fn read_frame<T>(io: &mut T, bytes_max: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut length = [0u8; 4];
    io.read_exact(&mut length).await?;
    let length = u32::from_be_bytes(length) as usize;
    if length > bytes_max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("sync frame of {length} bytes over the limit of {bytes_max}"),
        ));
    }
    let mut bytes = vec![0u8; length];
    io.read_exact(&mut bytes).await?;
    Ok(bytes)
}

async fn write_frame<T>(io: &mut T, bytes: &[u8], bytes_max: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    // Asserted at the sending end too: never send what the receiver must refuse.
    if bytes.len() > bytes_max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "sync frame of {} bytes over the limit of {bytes_max}",
                bytes.len()
            ),
        ));
    }
    io.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.close().await
}

impl request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, REQUEST_BYTES_MAX).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, RESPONSE_BYTES_MAX).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request, REQUEST_BYTES_MAX).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response, RESPONSE_BYTES_MAX).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;
    use request_response::Codec;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        futures::executor::block_on(future)
    }

    #[test]
    fn a_frame_round_trips_and_a_length_over_the_limit_is_refused_before_allocating() {
        let mut codec = SyncCodec;
        let mut wire = Cursor::new(Vec::new());
        block_on(codec.write_request(&SYNC_PROTOCOL, &mut wire, vec![1, 2, 3])).unwrap();
        assert_eq!(wire.get_ref(), &[0, 0, 0, 3, 1, 2, 3]);
        wire.set_position(0);
        assert_eq!(
            block_on(codec.read_request(&SYNC_PROTOCOL, &mut wire)).unwrap(),
            vec![1, 2, 3]
        );

        // A peer announcing 4 GiB gets an error, not an allocation.
        let mut huge = Cursor::new(vec![0xff, 0xff, 0xff, 0xff]);
        let error = block_on(codec.read_response(&SYNC_PROTOCOL, &mut huge)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        let over = (REQUEST_BYTES_MAX as u32 + 1).to_be_bytes();
        let mut over = Cursor::new(over.to_vec());
        assert!(block_on(codec.read_request(&SYNC_PROTOCOL, &mut over)).is_err());

        // A frame cut short is an error too.
        let mut short = Cursor::new(vec![0, 0, 0, 5, 1]);
        assert!(block_on(codec.read_request(&SYNC_PROTOCOL, &mut short)).is_err());

        // Nothing over the limit is sent.
        let mut sink = Cursor::new(Vec::new());
        let too_big = vec![0; REQUEST_BYTES_MAX + 1];
        assert!(block_on(codec.write_request(&SYNC_PROTOCOL, &mut sink, too_big)).is_err());
        assert!(sink.get_ref().is_empty());
    }
}
