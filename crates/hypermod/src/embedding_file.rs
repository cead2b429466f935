//! Raw task embeddings from files, for users with their own embedder: a JSON list of numbers or a
//! NumPy `.npy` array (float32 or float64, little-endian, C order, shape `[E]` or `[1, E]`).
//! Values are returned exactly as stored (no normalisation).

use std::path::Path;

use crate::error::{Error, Result};

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::EmbeddingFile {
        path: path.into(),
        reason: reason.into(),
    }
}

/// Reads one task embedding from `path`: `.npy` by extension or magic bytes, JSON otherwise
/// (a flat list of numbers, or a list holding one such list).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("phi.json");
/// std::fs::write(&path, "[0.5, -1, 2e-3]").unwrap();
/// assert_eq!(hypermod::embedding_file::read_embedding(&path).unwrap(), vec![0.5, -1.0, 0.002]);
/// ```
pub fn read_embedding(path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let is_npy = bytes.starts_with(b"\x93NUMPY")
        || path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let values = if is_npy {
        parse_npy(&bytes, path)?
    } else {
        parse_json(&bytes, path)?
    };
    if values.is_empty() {
        return Err(bad(path, "the embedding is empty"));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(bad(path, format!("value {i} is not a finite number")));
    }
    Ok(values)
}

fn parse_json(bytes: &[u8], path: &Path) -> Result<Vec<f32>> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Error::Json {
        path: path.into(),
        source: e,
    })?;
    let list = match &value {
        serde_json::Value::Array(items) if items.len() == 1 && items[0].is_array() => {
            items[0].as_array().expect("checked")
        }
        serde_json::Value::Array(items) => items,
        _ => return Err(bad(path, "expected a JSON list of numbers")),
    };
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_f64()
                .map(|x| x as f32)
                .ok_or_else(|| bad(path, format!("element {i} is not a number: {v}")))
        })
        .collect()
}

/// The value of `key` in a `.npy` header dict (`{'descr': '<f4', 'fortran_order': False, 'shape': (384,), }`).
fn header_field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find(',').unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

fn parse_npy(bytes: &[u8], path: &Path) -> Result<Vec<f32>> {
    if !bytes.starts_with(b"\x93NUMPY") || bytes.len() < 10 {
        return Err(bad(path, "not a .npy file (bad magic)"));
    }
    let major = bytes[6];
    let (header_len, offset) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(path, format!("unsupported .npy version {v}"))),
    };
    let header = bytes
        .get(offset..offset + header_len)
        .ok_or_else(|| bad(path, "truncated .npy header"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad(path, "non-text .npy header"))?;
    let descr = header_field(header, "descr").ok_or_else(|| bad(path, "no 'descr' in header"))?;
    if header_field(header, "fortran_order") == Some("True") {
        return Err(bad(path, "Fortran-ordered arrays are not supported"));
    }
    let shape = header_field(header, "shape").ok_or_else(|| bad(path, "no 'shape' in header"))?;
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| bad(path, format!("bad shape {shape}")))
        })
        .collect::<Result<_>>()?;
    let n: usize = dims.iter().product();
    if !(dims.len() == 1 || (dims.len() == 2 && dims[0] == 1)) {
        return Err(bad(
            path,
            format!("shape {dims:?}: expected one vector, [E] or [1, E]"),
        ));
    }
    let data = &bytes[offset + header_len..];
    let (width, f64s) = match descr.trim_matches('\'') {
        "<f4" | "|f4" => (4, false),
        "<f8" | "|f8" => (8, true),
        other => {
            return Err(bad(
                path,
                format!("dtype {other}: expected little-endian float32 or float64"),
            ));
        }
    };
    if data.len() != n * width {
        return Err(bad(
            path,
            format!("{} data bytes for {n} values of {width} bytes", data.len()),
        ));
    }
    Ok(if f64s {
        data.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect()
    } else {
        data.chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.npy` file as `numpy.save` writes it (version 1.0, header padded to 64 bytes).
    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn reads_npy_float32_and_float64_and_json() {
        let dir = tempfile::tempdir().unwrap();
        let f32s: Vec<u8> = [1.5f32, -2.0, 0.25]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let p = dir.path().join("a.npy");
        std::fs::write(&p, npy("<f4", "(3,)", &f32s)).unwrap();
        assert_eq!(read_embedding(&p).unwrap(), vec![1.5, -2.0, 0.25]);
        let f64s: Vec<u8> = [1.0f64, 3.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&p, npy("<f8", "(1, 2)", &f64s)).unwrap();
        assert_eq!(read_embedding(&p).unwrap(), vec![1.0, 3.0]);
        let j = dir.path().join("a.json");
        std::fs::write(&j, "[[1, 2.5]]").unwrap();
        assert_eq!(read_embedding(&j).unwrap(), vec![1.0, 2.5]);
    }

    #[test]
    fn refuses_bad_files_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.npy");
        std::fs::write(&p, npy("<i8", "(2,)", &[0u8; 16])).unwrap();
        let e = read_embedding(&p).unwrap_err().to_string();
        assert!(e.contains("b.npy") && e.contains("<i8"), "{e}");
        std::fs::write(&p, npy("<f4", "(2, 2)", &[0u8; 16])).unwrap();
        assert!(
            read_embedding(&p)
                .unwrap_err()
                .to_string()
                .contains("[2, 2]")
        );
        std::fs::write(&p, npy("<f4", "(3,)", &[0u8; 8])).unwrap();
        assert!(
            read_embedding(&p)
                .unwrap_err()
                .to_string()
                .contains("data bytes")
        );
        let j = dir.path().join("c.json");
        std::fs::write(&j, r#"{"x": 1}"#).unwrap();
        assert!(
            read_embedding(&j)
                .unwrap_err()
                .to_string()
                .contains("c.json")
        );
        std::fs::write(&j, r#"[1, "two"]"#).unwrap();
        assert!(
            read_embedding(&j)
                .unwrap_err()
                .to_string()
                .contains("element 1")
        );
    }
}
