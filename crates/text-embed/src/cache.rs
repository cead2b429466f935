//! [`EmbeddingCache`]: each text is embedded once per run (in memory) and, optionally, once ever
//! (on disk, keyed by embedder id + text hash).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use burn::prelude::*;
use sha2::{Digest, Sha256};

use crate::embedder::TextEmbedder;
use crate::error::{Error, Result};

/// First bytes of an on-disk cache entry.
const MAGIC: &[u8; 8] = b"T2LEMB1\n";

/// Wraps an embedder so that each distinct text reaches it once.
///
/// In memory, vectors live for the cache's lifetime. With [`EmbeddingCache::with_disk`], each
/// vector is also stored as `DIR/<sha256(id)[..16]>/<sha256(text)>.bin` (written to a temporary
/// file and renamed, so an interrupted run leaves no half-written entry); an entry records the
/// embedder id and the text and is only used when both match.
///
/// ```
/// use burn::prelude::*;
/// use text_embed::{EmbeddingCache, Result, TextEmbedder};
/// # struct Len<B: Backend>(B::Device);
/// # impl<B: Backend> TextEmbedder<B> for Len<B> {
/// #     fn embed(&self, t: &[&str]) -> Result<Tensor<B, 2>> {
/// #         let v: Vec<f32> = t.iter().map(|s| s.len() as f32).collect();
/// #         Ok(Tensor::from_data(TensorData::new(v, [t.len(), 1]), &self.0))
/// #     }
/// #     fn device(&self) -> B::Device { self.0.clone() }
/// #     fn dim(&self) -> usize { 1 }
/// #     fn id(&self) -> String { "len".into() }
/// # }
/// let cache = EmbeddingCache::new(Len::<burn::backend::Flex>(Default::default()));
/// cache.embed(&["a", "bb"])?;
/// cache.embed(&["bb", "ccc"])?; // only "ccc" reaches the embedder
/// assert_eq!(cache.embedder_calls(), 2);
/// # Ok::<(), text_embed::Error>(())
/// ```
#[derive(Debug)]
pub struct EmbeddingCache<E> {
    inner: E,
    disk: Option<PathBuf>,
    state: Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    vectors: HashMap<String, Vec<f32>>,
    embedder_calls: usize,
    embedded_texts: usize,
}

impl<E> EmbeddingCache<E> {
    /// An in-memory cache around `inner`.
    pub fn new(inner: E) -> Self {
        Self {
            inner,
            disk: None,
            state: Mutex::new(CacheState::default()),
        }
    }

    /// A cache that also reads and writes vectors under `dir` (created when missing).
    pub fn with_disk(inner: E, dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(Self {
            inner,
            disk: Some(dir.to_path_buf()),
            state: Mutex::new(CacheState::default()),
        })
    }

    /// The wrapped embedder.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    /// How many times the wrapped embedder has been called.
    pub fn embedder_calls(&self) -> usize {
        self.lock().embedder_calls
    }

    /// How many texts the wrapped embedder has embedded.
    pub fn embedded_texts(&self) -> usize {
        self.lock().embedded_texts
    }

    /// Number of vectors held in memory.
    pub fn len(&self) -> usize {
        self.lock().vectors.len()
    }

    /// Whether no vector is held in memory.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // A panic elsewhere cannot leave the map half-updated (inserts are single calls).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The file of `(id, text)` under `dir`.
fn entry_path(dir: &Path, id: &str, text: &str) -> PathBuf {
    let id_hash = hex(&Sha256::digest(id.as_bytes())[..8]);
    dir.join(id_hash)
        .join(format!("{}.bin", hex(&Sha256::digest(text.as_bytes()))))
}

fn encode_entry(id: &str, text: &str, v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + id.len() + text.len() + 4 * v.len());
    out.extend_from_slice(MAGIC);
    for s in [id, text] {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Parses an entry: `Ok(None)` when it is for another id or text (a hash collision or a stale
/// file), an error when it is corrupt.
fn decode_entry(
    path: &Path,
    bytes: &[u8],
    id: &str,
    text: &str,
    dim: usize,
) -> Result<Option<Vec<f32>>> {
    let corrupt = |m: &str| Error::Cache {
        path: path.to_path_buf(),
        message: m.to_string(),
    };
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| corrupt("bad magic"))?;
    let mut pos = 0usize;
    let mut take = |n: usize| -> Result<&[u8]> {
        let s = rest.get(pos..pos + n).ok_or_else(|| corrupt("truncated"))?;
        pos += n;
        Ok(s)
    };
    let mut strings = Vec::new();
    for _ in 0..2 {
        let n = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
        strings.push(take(n)?.to_vec());
    }
    let n = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
    let data = take(4 * n)?;
    if strings[0] != id.as_bytes() || strings[1] != text.as_bytes() {
        return Ok(None);
    }
    if n != dim {
        return Err(corrupt(&format!("{n} values, the embedder has dim {dim}")));
    }
    Ok(Some(
        data.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    ))
}

impl<B: Backend, E: TextEmbedder<B>> TextEmbedder<B> for EmbeddingCache<E> {
    fn embed(&self, texts: &[&str]) -> Result<Tensor<B, 2>> {
        if texts.is_empty() {
            return Err(Error::input("texts", "no texts to embed"));
        }
        let id = self.inner.id();
        let dim = self.inner.dim();
        let mut state = self.lock();
        let mut missing: Vec<&str> = Vec::new();
        for &t in texts {
            if state.vectors.contains_key(t) || missing.contains(&t) {
                continue;
            }
            if let Some(dir) = &self.disk {
                let path = entry_path(dir, &id, t);
                if path.is_file() {
                    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
                    if let Some(v) = decode_entry(&path, &bytes, &id, t, dim)? {
                        state.vectors.insert(t.to_string(), v);
                        continue;
                    }
                }
            }
            missing.push(t);
        }
        if !missing.is_empty() {
            let out = self.inner.embed(&missing)?;
            if out.dims() != [missing.len(), dim] {
                return Err(Error::Custom {
                    id: id.clone(),
                    source: format!(
                        "returned shape {:?} for {} texts of dim {dim}",
                        out.dims(),
                        missing.len()
                    )
                    .into(),
                });
            }
            let values: Vec<f32> =
                out.into_data()
                    .convert::<f32>()
                    .to_vec()
                    .map_err(|e| Error::Custom {
                        id: id.clone(),
                        source: format!("{e:?}").into(),
                    })?;
            state.embedder_calls += 1;
            state.embedded_texts += missing.len();
            for (t, v) in missing.iter().zip(values.chunks_exact(dim)) {
                if let Some(dir) = &self.disk {
                    let path = entry_path(dir, &id, t);
                    let parent = path.parent().expect("entry paths have a parent");
                    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                    lora_core::fsutil::write_atomic(&path, &encode_entry(&id, t, v)).map_err(
                        |e| Error::Cache {
                            path: path.clone(),
                            message: e.to_string(),
                        },
                    )?;
                }
                state.vectors.insert(t.to_string(), v.to_vec());
            }
        }
        let mut data = Vec::with_capacity(texts.len() * dim);
        for t in texts {
            data.extend_from_slice(&state.vectors[*t]);
        }
        Ok(Tensor::from_data(
            TensorData::new(data, [texts.len(), dim]),
            &self.inner.device(),
        ))
    }

    fn device(&self) -> B::Device {
        self.inner.device()
    }

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn id(&self) -> String {
        self.inner.id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Embeds a text as `[len, first byte, calls so far]`, counting its calls.
    struct Counting {
        calls: AtomicUsize,
    }

    impl TextEmbedder<Flex> for Counting {
        fn embed(&self, texts: &[&str]) -> Result<Tensor<Flex, 2>> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst) as f32;
            let mut v = Vec::new();
            for t in texts {
                v.extend([
                    t.len() as f32,
                    *t.as_bytes().first().unwrap_or(&0) as f32,
                    call,
                ]);
            }
            Ok(Tensor::from_data(
                TensorData::new(v, [texts.len(), 3]),
                &Default::default(),
            ))
        }
        fn device(&self) -> burn::tensor::Device<Flex> {
            Default::default()
        }
        fn dim(&self) -> usize {
            3
        }
        fn id(&self) -> String {
            "counting".into()
        }
    }

    fn counting() -> Counting {
        Counting {
            calls: AtomicUsize::new(0),
        }
    }

    fn rows(t: Tensor<Flex, 2>) -> Vec<f32> {
        t.to_data().to_vec().unwrap()
    }

    #[test]
    fn second_lookup_does_not_call_the_embedder() {
        let cache = EmbeddingCache::new(counting());
        let first = rows(cache.embed(&["ab", "c", "ab"]).unwrap());
        assert_eq!(first, vec![2., 97., 0., 1., 99., 0., 2., 97., 0.]);
        assert_eq!((cache.embedder_calls(), cache.embedded_texts()), (1, 2));
        let second = rows(cache.embed(&["c", "ab"]).unwrap());
        assert_eq!(second, vec![1., 99., 0., 2., 97., 0.]);
        assert_eq!(cache.inner().calls.load(Ordering::SeqCst), 1);
        // only the new text is embedded, in a second call
        let third = rows(cache.embed(&["ab", "zzz"]).unwrap());
        assert_eq!(third, vec![2., 97., 0., 3., 122., 1.]);
        assert_eq!((cache.embedder_calls(), cache.embedded_texts()), (2, 3));
    }

    #[test]
    fn disk_cache_serves_a_new_run_without_the_embedder() {
        let dir = tempfile::tempdir().unwrap();
        let first = EmbeddingCache::with_disk(counting(), dir.path()).unwrap();
        let a = rows(first.embed(&["hello", "world"]).unwrap());
        drop(first);
        let second = EmbeddingCache::with_disk(counting(), dir.path()).unwrap();
        let b = rows(second.embed(&["world", "hello"]).unwrap());
        assert_eq!(second.inner().calls.load(Ordering::SeqCst), 0);
        assert_eq!(b, [&a[3..6], &a[0..3]].concat());
        // no temporary files are left behind
        let leftovers = walk(dir.path())
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn corrupt_entry_is_a_cache_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = EmbeddingCache::with_disk(counting(), dir.path()).unwrap();
        cache.embed(&["x"]).unwrap();
        let path = entry_path(dir.path(), "counting", "x");
        std::fs::write(&path, b"T2LEMB1\n\x01").unwrap();
        let fresh = EmbeddingCache::with_disk(counting(), dir.path()).unwrap();
        let err = fresh.embed(&["x"]).unwrap_err();
        assert!(matches!(err, Error::Cache { .. }), "{err}");
        assert!(err.to_string().contains(".bin"), "{err}");
    }

    #[test]
    fn entry_for_another_text_is_a_miss() {
        let bytes = encode_entry("id", "other", &[1.0]);
        let got = decode_entry(Path::new("e.bin"), &bytes, "id", "text", 1).unwrap();
        assert_eq!(got, None);
        let got = decode_entry(Path::new("e.bin"), &bytes, "id", "other", 1).unwrap();
        assert_eq!(got, Some(vec![1.0]));
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
