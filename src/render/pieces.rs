//! Output of a large plan rendered in pieces by two threads while the calling
//! thread writes the pieces before: the text, JSON and GitHub renderings of a
//! create plan for 20,000 customers took longer than planning it, on one core of
//! two.
//!
//! Each piece is rendered on its own and the pieces are written in order, so the
//! output is byte for byte what rendering them one after another would give. The
//! threads live for the whole output and hand pieces over through channels of one
//! or two places, so memory holds a few pieces at most, and pieces can be small
//! enough to be written while still in the cache (threads started per round of
//! megabyte pieces were slower: each piece was read back from memory to be
//! hashed and again to be written).

use std::io;
use std::sync::mpsc::{Receiver, sync_channel};

/// Items per piece (a few hundred kilobytes of a plan).
pub const PIECE_ITEMS: usize = 128;

/// How many threads render.
const RENDERERS: usize = 2;

/// Renders a slice of items; told whether the slice starts the list (for
/// separators).
pub type Render<'a, T> = dyn Fn(&[T], bool) -> io::Result<Vec<u8>> + Sync + 'a;

/// Renders `items` in order, `per_piece` at a time, on two threads, and
/// hands the pieces to `write` in order. `render` is told whether its slice starts
/// the list (for separators).
pub fn write_in_pieces<T: Sync>(
    items: &[T],
    per_piece: usize,
    render: &Render<'_, T>,
    write: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    write_observed_in_pieces(items, per_piece, render, None, write)
}

/// Reads the pieces in order, beside their writing (e.g. the JSON plan's digest).
pub type Observe<'a> = dyn FnMut(&[u8]) + Send + 'a;

/// [`write_in_pieces`], with each piece also handed, once written, to `observe`,
/// in order, on a thread of its own: hashing a whole tenant's JSON plan, then
/// writing it, one after the other on the writing thread, made that thread the
/// slowest.
pub fn write_observed_in_pieces<T: Sync>(
    items: &[T],
    per_piece: usize,
    render: &Render<'_, T>,
    observe: Option<&mut Observe<'_>>,
    write: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let chunks: Vec<&[T]> = items.chunks(per_piece.max(1)).collect();
    let chunks = chunks.as_slice();
    std::thread::scope(|scope| {
        // Renderer k renders pieces k, k + RENDERERS, …; it stops at its first
        // error, or when this thread stops taking pieces (its channel closed).
        let rendered: Vec<Receiver<io::Result<Vec<u8>>>> = (0..RENDERERS)
            .map(|k| {
                let (piece_out, pieces) = sync_channel(1);
                scope.spawn(move || {
                    for (i, chunk) in chunks.iter().enumerate().skip(k).step_by(RENDERERS) {
                        let piece = render(chunk, i == 0);
                        let failed = piece.is_err();
                        if piece_out.send(piece).is_err() || failed {
                            return;
                        }
                    }
                });
                pieces
            })
            .collect();
        let observed = observe.map(|observe| {
            let (piece_out, pieces) = sync_channel::<Vec<u8>>(2);
            scope.spawn(move || pieces.into_iter().for_each(|piece| observe(&piece)));
            piece_out
        });
        for i in 0..chunks.len() {
            // A renderer that panicked closed its channel; the scope passes the
            // panic on once every thread has ended.
            let piece = rendered[i % RENDERERS]
                .recv()
                .map_err(|_| io::Error::other("a rendering thread stopped"))??;
            write(&piece)?;
            if let Some(observed) = &observed {
                observed
                    .send(piece)
                    .map_err(|_| io::Error::other("the observing thread stopped"))?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(items: &[u32], first: bool) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        for (i, n) in items.iter().enumerate() {
            if !(first && i == 0) {
                out.push(b',');
            }
            out.extend_from_slice(n.to_string().as_bytes());
        }
        Ok(out)
    }

    #[test]
    fn pieces_are_written_in_order_whatever_their_size() {
        let items: Vec<u32> = (0..23).collect();
        let expected = numbers(&items, true).unwrap();
        for per_piece in [0, 1, 2, 5, 11, 12, 100] {
            let mut out = Vec::new();
            write_in_pieces(&items, per_piece, &numbers, &mut |piece| {
                out.extend_from_slice(piece);
                Ok(())
            })
            .unwrap();
            assert_eq!(out, expected, "{per_piece}");
        }
        let mut out = Vec::new();
        write_in_pieces(&[] as &[u32], 4, &numbers, &mut |p| {
            out.extend_from_slice(p);
            Ok(())
        })
        .unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn the_observer_reads_what_is_written_in_the_same_order() {
        let items: Vec<u32> = (0..23).collect();
        let expected = numbers(&items, true).unwrap();
        for per_piece in [1, 3, 12, 100] {
            let (mut seen, mut out) = (Vec::new(), Vec::new());
            write_observed_in_pieces(
                &items,
                per_piece,
                &numbers,
                Some(&mut |piece: &[u8]| seen.extend_from_slice(piece)),
                &mut |piece| {
                    out.extend_from_slice(piece);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(out, expected, "{per_piece}");
            assert_eq!(seen, expected, "{per_piece}");
        }
    }

    #[test]
    fn an_error_of_the_writer_or_a_renderer_stops_it() {
        let items: Vec<u32> = (0..10).collect();
        let mut calls = 0;
        let failed = write_in_pieces(&items, 2, &numbers, &mut |_| {
            calls += 1;
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
        });
        assert_eq!(failed.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(calls, 1);
        let failing = |items: &[u32], _first: bool| -> io::Result<Vec<u8>> {
            if items.contains(&7) {
                Err(io::Error::other("cannot render"))
            } else {
                Ok(vec![b'x'])
            }
        };
        let result = write_in_pieces(&items, 2, &failing, &mut |_| Ok(()));
        assert_eq!(result.unwrap_err().to_string(), "cannot render");
    }
}
