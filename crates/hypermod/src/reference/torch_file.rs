//! Reading a PyTorch `torch.save` checkpoint (the zip format) into named f32 host tensors, without
//! executing anything: the archive's `data.pkl` goes through the data-only interpreter of
//! [`super::pickle`], and each tensor is gathered from its `data/{key}` storage entry.
//!
//! Handles the storage offset and strides of every view (non-contiguous tensors), tensors that share
//! a storage, f32/f16/bf16/f64 storages (all converted to f32) and both byte orders.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek};
use std::path::Path;

use burn::tensor::TensorData;
use half::{bf16, f16};

use super::error::ReferenceError;
use super::pickle::{StorageDtype, TensorRef, parse_state_dict};

/// Named f32 host tensors of a state dict, keyed by their state-dict name.
pub type StateDict = BTreeMap<String, TensorData>;

/// Reads the state dict saved by `torch.save(module.state_dict(), path)`.
///
/// Errors name the file and, where one is at fault, the tensor key: a truncated or non-zip file,
/// a missing archive entry, a refused pickle opcode or global, a non-float storage, a view that
/// reaches outside its storage.
pub fn read_state_dict(path: &Path) -> Result<StateDict, ReferenceError> {
    let file = std::fs::File::open(path).map_err(|e| ReferenceError::io(path, e))?;
    read_state_dict_from(std::io::BufReader::new(file), &path.display().to_string())
}

/// [`read_state_dict`] from any seekable reader; `file` names the source in errors.
pub fn read_state_dict_from<R: Read + Seek>(
    reader: R,
    file: &str,
) -> Result<StateDict, ReferenceError> {
    let zip_err = |e: zip::result::ZipError| ReferenceError::Zip {
        file: file.to_string(),
        reason: e.to_string(),
    };
    let mut archive = zip::ZipArchive::new(reader).map_err(zip_err)?;
    // torch names the top folder after the file stem (`hypermod/data.pkl`) or `archive/`.
    let pkl = archive
        .file_names()
        .find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
        .map(str::to_string)
        .ok_or_else(|| ReferenceError::MissingEntry {
            file: file.to_string(),
            entry: "<prefix>/data.pkl".into(),
        })?;
    let prefix = pkl.trim_end_matches("data.pkl").to_string();
    let mut read_entry = |name: &str| -> Result<Option<Vec<u8>>, ReferenceError> {
        let mut entry = match archive.by_name(name) {
            Ok(e) => e,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(zip_err(e)),
        };
        // The declared size only sizes the first allocation (a forged header cannot force a huge one).
        let mut buf = Vec::with_capacity(entry.size().min(1 << 26) as usize);
        entry
            .read_to_end(&mut buf)
            .map_err(|e| ReferenceError::Zip {
                file: file.to_string(),
                reason: format!("entry `{name}`: {e}"),
            })?;
        Ok(Some(buf))
    };
    let big_endian = match read_entry(&format!("{prefix}byteorder"))? {
        // Archives written before the entry existed are little-endian.
        None => false,
        Some(b) => match std::str::from_utf8(&b).map(str::trim) {
            Ok("little") => false,
            Ok("big") => true,
            _ => {
                return Err(ReferenceError::ByteOrder {
                    file: file.to_string(),
                    found: String::from_utf8_lossy(&b).into_owned(),
                });
            }
        },
    };
    let program = read_entry(&pkl)?.ok_or_else(|| ReferenceError::MissingEntry {
        file: file.to_string(),
        entry: pkl.clone(),
    })?;
    let entries = parse_state_dict(&program, file)?;

    // How many tensors still read each storage: a storage is freed after its last view, and a view
    // that is its whole storage takes the decoded values without a copy.
    let mut uses: HashMap<String, usize> = HashMap::new();
    for (_, t) in &entries {
        *uses.entry(t.storage.key.clone()).or_default() += 1;
    }
    let mut storages: HashMap<String, (StorageDtype, Vec<f32>)> = HashMap::new();
    let mut out = StateDict::new();
    for (key, t) in entries {
        let Some(size) = t.storage.dtype.size() else {
            return Err(ReferenceError::Dtype {
                file: file.to_string(),
                key,
                dtype: t.storage.dtype.class_name().to_string(),
            });
        };
        if !storages.contains_key(&t.storage.key) {
            let entry = format!("{prefix}data/{}", t.storage.key);
            let bytes = read_entry(&entry)?.ok_or_else(|| ReferenceError::MissingEntry {
                file: file.to_string(),
                entry: entry.clone(),
            })?;
            let needed = t.storage.numel.checked_mul(size);
            if needed.is_none_or(|n| bytes.len() < n) {
                return Err(ReferenceError::Storage {
                    file: file.to_string(),
                    key,
                    reason: format!(
                        "storage `{entry}` holds {} bytes, {} {} elements need {}",
                        bytes.len(),
                        t.storage.numel,
                        t.storage.dtype.class_name(),
                        needed.map_or("more".to_string(), |n| n.to_string())
                    ),
                });
            }
            let values = decode(
                &bytes[..t.storage.numel * size],
                &t.storage.dtype,
                big_endian,
            );
            storages.insert(t.storage.key.clone(), (t.storage.dtype.clone(), values));
        }
        let (dtype, _) = &storages[&t.storage.key];
        if *dtype != t.storage.dtype {
            return Err(ReferenceError::Storage {
                file: file.to_string(),
                key,
                reason: format!(
                    "storage `{}` is read as {} here and as {} by another tensor",
                    t.storage.key,
                    t.storage.dtype.class_name(),
                    dtype.class_name()
                ),
            });
        }
        let remaining = uses
            .get_mut(&t.storage.key)
            .expect("every storage was counted");
        *remaining -= 1;
        let data = if *remaining == 0 {
            let (_, values) = storages
                .remove(&t.storage.key)
                .expect("the storage was loaded above");
            gather_owned(values, &t)
        } else {
            gather(&storages[&t.storage.key].1, &t)
        };
        let data = data.map_err(|reason| ReferenceError::Storage {
            file: file.to_string(),
            key: key.clone(),
            reason,
        })?;
        out.insert(key, TensorData::new(data, t.shape.clone()));
    }
    Ok(out)
}

/// Converts a storage's raw bytes to f32.
fn decode(bytes: &[u8], dtype: &StorageDtype, big_endian: bool) -> Vec<f32> {
    fn arr<const N: usize>(c: &[u8], big: bool) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        if big {
            a.reverse();
        }
        a
    }
    match dtype {
        StorageDtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(arr(c, big_endian)))
            .collect(),
        StorageDtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(arr(c, big_endian)) as f32)
            .collect(),
        StorageDtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes(arr(c, big_endian)).to_f32())
            .collect(),
        StorageDtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| bf16::from_le_bytes(arr(c, big_endian)).to_f32())
            .collect(),
        StorageDtype::Other(_) => Vec::new(),
    }
}

/// Like [`gather`], but reuses the storage's buffer when the view is the whole storage in order.
fn gather_owned(storage: Vec<f32>, t: &TensorRef) -> Result<Vec<f32>, String> {
    let numel = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if t.offset == 0 && numel == Some(storage.len()) && is_contiguous(t) {
        return Ok(storage);
    }
    gather(&storage, t)
}

/// Whether a view's strides are those of a row-major array of its shape (size-1 dims aside).
fn is_contiguous(t: &TensorRef) -> bool {
    let mut expect = 1usize;
    t.shape.iter().zip(&t.stride).rev().all(|(&d, &s)| {
        let ok = d == 1 || s == expect;
        expect = expect.saturating_mul(d);
        ok
    })
}

/// Copies a strided view out of its storage, row-major; checks that it stays inside the storage.
fn gather(storage: &[f32], t: &TensorRef) -> Result<Vec<f32>, String> {
    let numel = t
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("size {:?} overflows", t.shape))?;
    if numel == 0 {
        return Ok(Vec::new());
    }
    if numel > storage.len() {
        // Only a view with overlapping elements (a stride-0 broadcast) can be larger than its
        // storage; state dicts never hold one, and a forged size must not allocate unbounded memory.
        return Err(format!(
            "view of size {:?} has {numel} elements, more than its storage's {} (overlapping views are not supported)",
            t.shape,
            storage.len()
        ));
    }
    let last = t
        .shape
        .iter()
        .zip(&t.stride)
        .try_fold(t.offset, |a, (&d, &s)| {
            a.checked_add((d - 1).checked_mul(s)?)
        })
        .filter(|&last| last < storage.len())
        .ok_or_else(|| {
            format!(
                "view (offset {}, size {:?}, stride {:?}) reaches past its storage of {} elements",
                t.offset,
                t.shape,
                t.stride,
                storage.len()
            )
        })?;
    // Contiguous row-major view: one slice copy.
    if is_contiguous(t) {
        return Ok(storage[t.offset..=last].to_vec());
    }
    let mut out = Vec::with_capacity(numel);
    let mut index = vec![0usize; t.shape.len()];
    let mut pos = t.offset;
    for _ in 0..numel {
        out.push(storage[pos]);
        // Odometer increment over the dimensions, innermost fastest.
        for dim in (0..index.len()).rev() {
            index[dim] += 1;
            pos += t.stride[dim];
            if index[dim] < t.shape[dim] {
                break;
            }
            pos -= t.stride[dim] * t.shape[dim];
            index[dim] = 0;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::pickle::StorageRef;

    fn view(offset: usize, shape: &[usize], stride: &[usize]) -> TensorRef {
        TensorRef {
            storage: StorageRef {
                key: "0".into(),
                dtype: StorageDtype::F32,
                numel: 12,
            },
            offset,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
        }
    }

    #[test]
    fn gathers_strided_views() {
        let s: Vec<f32> = (0..12).map(|x| x as f32).collect();
        // [3, 4] contiguous, its transpose, a column slice, a scalar, an empty tensor.
        assert_eq!(gather(&s, &view(0, &[3, 4], &[4, 1])).unwrap(), s);
        assert_eq!(
            gather(&s, &view(0, &[4, 3], &[1, 4])).unwrap(),
            vec![0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.]
        );
        assert_eq!(gather(&s, &view(2, &[3], &[4])).unwrap(), vec![2., 6., 10.]);
        assert_eq!(gather(&s, &view(5, &[], &[])).unwrap(), vec![5.]);
        assert!(gather(&s, &view(50, &[0, 3], &[3, 1])).unwrap().is_empty());
    }

    #[test]
    fn a_whole_storage_view_takes_the_buffer_and_others_copy() {
        let s: Vec<f32> = (0..12).map(|x| x as f32).collect();
        let ptr = s.as_ptr();
        let whole = gather_owned(s.clone(), &view(0, &[3, 4], &[4, 1])).unwrap();
        assert_eq!(whole, s);
        let moved = gather_owned(s, &view(0, &[12], &[1])).unwrap();
        assert_eq!(moved.as_ptr(), ptr, "the buffer was copied");
        let t = gather_owned(moved, &view(0, &[4, 3], &[1, 4])).unwrap();
        assert_eq!(&t[..4], &[0., 4., 8., 1.]);
        assert!(gather_owned(vec![0.; 4], &view(1, &[4], &[1])).is_err());
    }

    #[test]
    fn refuses_views_past_the_storage() {
        let s = vec![0f32; 12];
        let e = gather(&s, &view(1, &[3, 4], &[4, 1])).unwrap_err();
        assert!(e.contains("reaches past"), "{e}");
        assert!(gather(&s, &view(0, &[2, usize::MAX], &[1, 1])).is_err());
        // A stride-0 broadcast larger than the storage.
        let e = gather(&s, &view(0, &[1 << 40], &[0])).unwrap_err();
        assert!(e.contains("overlapping"), "{e}");
    }

    #[test]
    fn decodes_every_float_type_in_both_byte_orders() {
        let x = [1.5f32, -2.25];
        let le: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        let be: Vec<u8> = x.iter().flat_map(|v| v.to_be_bytes()).collect();
        assert_eq!(decode(&le, &StorageDtype::F32, false), x);
        assert_eq!(decode(&be, &StorageDtype::F32, true), x);
        let h: Vec<u8> = x
            .iter()
            .flat_map(|v| f16::from_f32(*v).to_le_bytes())
            .collect();
        assert_eq!(decode(&h, &StorageDtype::F16, false), x);
        let b: Vec<u8> = x
            .iter()
            .flat_map(|v| bf16::from_f32(*v).to_be_bytes())
            .collect();
        assert_eq!(decode(&b, &StorageDtype::BF16, true), x);
        let d: Vec<u8> = x.iter().flat_map(|v| (*v as f64).to_le_bytes()).collect();
        assert_eq!(decode(&d, &StorageDtype::F64, false), x);
    }
}
