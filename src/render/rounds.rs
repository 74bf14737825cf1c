//! Output of a large plan rendered in rounds by two threads while the calling thread
//! writes the round before: the text, JSON and GitHub renderings of a create plan
//! for 20,000 customers took longer than planning it, on one core of two.
//!
//! Each piece is rendered on its own and the pieces are written in order, so the
//! output is byte for byte what rendering them one after another would give; memory
//! holds two rounds of pieces at most.

use std::io;

/// Items each rendering thread takes per round (a few megabytes of a plan).
pub const ROUND_ITEMS: usize = 2048;

/// Renders a slice of items; told whether the slice starts the list (for
/// separators).
pub type Render<'a, T> = dyn Fn(&[T], bool) -> io::Result<Vec<u8>> + Sync + 'a;

/// Renders `items` in order, `per_thread` at a time on each of two threads, and
/// hands the pieces to `write` in order. `render` is told whether its slice starts
/// the list (for separators).
pub fn write_in_rounds<T: Sync>(
    items: &[T],
    per_thread: usize,
    render: &Render<'_, T>,
    write: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    write_observed_in_rounds(items, per_thread, render, None, write)
}

/// Reads the pieces in order, beside their writing (e.g. the JSON plan's digest).
pub type Observe<'a> = dyn FnMut(&[u8]) + Send + 'a;

/// [`write_in_rounds`], with each round's pieces also handed in order to
/// `observe`, on a thread of its own while this one writes them: hashing a whole
/// tenant's JSON plan, then writing it, one after the other on the writing thread,
/// made that thread the slowest of the three.
pub fn write_observed_in_rounds<T: Sync>(
    items: &[T],
    per_thread: usize,
    render: &Render<'_, T>,
    mut observe: Option<&mut Observe<'_>>,
    write: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let per_thread = per_thread.max(1);
    let mut rendered: Option<[Vec<u8>; 2]> = None;
    for (round, items) in items.chunks(2 * per_thread).enumerate() {
        let (first, second) = items.split_at(items.len().min(per_thread));
        let previous = rendered.take();
        let pieces = std::thread::scope(|scope| {
            let a = scope.spawn(|| render(first, round == 0));
            let b = scope.spawn(|| render(second, false));
            let wrote = pass_on(scope, previous.as_ref(), observe.as_deref_mut(), write);
            let joined = [a, b].map(join);
            wrote.map(|()| joined)
        })?;
        let [a, b] = pieces;
        rendered = Some([a?, b?]);
    }
    std::thread::scope(|scope| pass_on(scope, rendered.as_ref(), observe, write))
}

/// Hands `pieces` to `observe` (on a thread of `scope`) and to `write` (on this
/// one), and waits for both.
fn pass_on<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    pieces: Option<&'scope [Vec<u8>; 2]>,
    observe: Option<&'scope mut Observe<'_>>,
    write: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let Some(pieces) = pieces else {
        return Ok(());
    };
    let observer =
        observe.map(|observe| scope.spawn(move || pieces.iter().for_each(|p| observe(p))));
    let wrote = pieces.iter().try_for_each(|p| write(p));
    if let Some(observer) = observer {
        join(observer);
    }
    wrote
}

/// A scoped thread's result, its panic passed on.
fn join<T>(thread: std::thread::ScopedJoinHandle<'_, T>) -> T {
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
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
    fn pieces_are_written_in_order_whatever_the_round_size() {
        let items: Vec<u32> = (0..23).collect();
        let expected = numbers(&items, true).unwrap();
        for per_thread in [0, 1, 2, 5, 11, 12, 100] {
            let mut out = Vec::new();
            write_in_rounds(&items, per_thread, &numbers, &mut |piece| {
                out.extend_from_slice(piece);
                Ok(())
            })
            .unwrap();
            assert_eq!(out, expected, "{per_thread}");
        }
        let mut out = Vec::new();
        write_in_rounds(&[] as &[u32], 4, &numbers, &mut |p| {
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
        for per_thread in [1, 3, 12, 100] {
            let (mut seen, mut out) = (Vec::new(), Vec::new());
            write_observed_in_rounds(
                &items,
                per_thread,
                &numbers,
                Some(&mut |piece: &[u8]| seen.extend_from_slice(piece)),
                &mut |piece| {
                    out.extend_from_slice(piece);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(out, expected, "{per_thread}");
            assert_eq!(seen, expected, "{per_thread}");
        }
    }

    #[test]
    fn an_error_of_the_writer_or_a_renderer_stops_it() {
        let items: Vec<u32> = (0..10).collect();
        let mut calls = 0;
        let failed = write_in_rounds(&items, 2, &numbers, &mut |_| {
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
        let result = write_in_rounds(&items, 2, &failing, &mut |_| Ok(()));
        assert_eq!(result.unwrap_err().to_string(), "cannot render");
    }
}
