//! A data-only interpreter for the pickle programs `torch.save(state_dict)` writes.
//!
//! It understands exactly the opcodes and globals a PyTorch state dict uses and refuses everything
//! else with a typed error naming the opcode or global, before anything could be "executed": there
//! is no code execution, only a fixed set of data constructors.
//!
//! Allowed opcodes (protocols 2 and 4): `PROTO`, `FRAME`, `STOP`, `MARK`, `POP`, `EMPTY_DICT`,
//! `EMPTY_LIST`, `EMPTY_TUPLE`, `TUPLE`, `TUPLE1`–`TUPLE3`, `BINUNICODE`, `SHORT_BINUNICODE`,
//! `BINUNICODE8`, `BININT`, `BININT1`, `BININT2`, `LONG1`, `BINFLOAT`, `NONE`, `NEWTRUE`,
//! `NEWFALSE`, `GLOBAL`, `STACK_GLOBAL`, `BINPERSID`, `REDUCE`, `BUILD`, `SETITEM`, `SETITEMS`,
//! `APPEND`, `APPENDS`, `BINPUT`, `LONG_BINPUT`, `MEMOIZE`, `BINGET`, `LONG_BINGET`.
//!
//! Allowed globals: `collections.OrderedDict` (called with no arguments),
//! `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`, and the storage classes
//! `torch.<X>Storage` (only as the type tag of a persistent storage id).

use std::collections::HashMap;

use super::error::ReferenceError;

/// Element type of a PyTorch storage, from its class name (`torch.FloatStorage`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageDtype {
    /// `FloatStorage`.
    F32,
    /// `HalfStorage`.
    F16,
    /// `BFloat16Storage`.
    BF16,
    /// `DoubleStorage`.
    F64,
    /// Any other `torch.*Storage` (integers, booleans, complex...): named, refused when read.
    Other(String),
}

impl StorageDtype {
    fn from_class(name: &str) -> Self {
        match name {
            "FloatStorage" => Self::F32,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::BF16,
            "DoubleStorage" => Self::F64,
            other => Self::Other(other.to_string()),
        }
    }

    /// Bytes per element, for the float types we read.
    pub fn size(&self) -> Option<usize> {
        match self {
            Self::F32 => Some(4),
            Self::F16 | Self::BF16 => Some(2),
            Self::F64 => Some(8),
            Self::Other(_) => None,
        }
    }

    /// The storage class name.
    pub fn class_name(&self) -> &str {
        match self {
            Self::F32 => "FloatStorage",
            Self::F16 => "HalfStorage",
            Self::BF16 => "BFloat16Storage",
            Self::F64 => "DoubleStorage",
            Self::Other(s) => s,
        }
    }
}

/// A persistent storage reference: `('storage', torch.XStorage, key, location, numel)`.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    /// The archive entry `data/{key}` holding the bytes.
    pub key: String,
    /// Element type.
    pub dtype: StorageDtype,
    /// Number of elements the storage declares.
    pub numel: usize,
}

/// A tensor as `_rebuild_tensor_v2` describes it: a strided view into a storage.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    /// The storage the view reads.
    pub storage: StorageRef,
    /// Offset of element `[0, 0, ...]` in the storage, in elements.
    pub offset: usize,
    /// Size of each dimension.
    pub shape: Vec<usize>,
    /// Stride of each dimension, in elements.
    pub stride: Vec<usize>,
}

/// The few callables a state dict may name.
#[derive(Debug, Clone, PartialEq)]
enum Callable {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    StorageClass(StorageDtype),
}

/// A value on the unpickling stack. Booleans and floats occur in a state dict only as flags and
/// hook arguments whose values are not needed, so only their presence is kept.
#[derive(Debug, Clone)]
enum Value {
    None,
    Bool,
    Int(i64),
    Float,
    Str(String),
    /// Index into `Machine::tuples`. Containers live in flat arenas, so nesting depth never
    /// matters (no recursive drop, no recursion at all) and shared references stay shared.
    Tuple(usize),
    /// Index into `Machine::lists`.
    List(usize),
    /// Index into `Machine::dicts`.
    Dict(usize),
    Callable(Callable),
    Storage(StorageRef),
    Tensor(TensorRef),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool => "bool",
            Value::Int(_) => "int",
            Value::Float => "float",
            Value::Str(_) => "str",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Callable(_) => "callable",
            Value::Storage(_) => "storage",
            Value::Tensor(_) => "tensor",
        }
    }
}

/// `pickletools` names of every pickle opcode, for error messages.
fn opcode_name(op: u8) -> &'static str {
    match op {
        b'(' => "MARK",
        b'.' => "STOP",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'L' => "LONG",
        b'M' => "BININT2",
        b'N' => "NONE",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'R' => "REDUCE",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'X' => "BINUNICODE",
        b'a' => "APPEND",
        b'b' => "BUILD",
        b'c' => "GLOBAL",
        b'd' => "DICT",
        b'}' => "EMPTY_DICT",
        b'e' => "APPENDS",
        b'g' => "GET",
        b'h' => "BINGET",
        b'i' => "INST",
        b'j' => "LONG_BINGET",
        b'l' => "LIST",
        b']' => "EMPTY_LIST",
        b'o' => "OBJ",
        b'p' => "PUT",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        b's' => "SETITEM",
        b't' => "TUPLE",
        b')' => "EMPTY_TUPLE",
        b'u' => "SETITEMS",
        b'G' => "BINFLOAT",
        0x80 => "PROTO",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        0x88 => "NEWTRUE",
        0x89 => "NEWFALSE",
        0x8a => "LONG1",
        0x8b => "LONG4",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8",
        0x8e => "BINBYTES8",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x93 => "STACK_GLOBAL",
        0x94 => "MEMOIZE",
        0x95 => "FRAME",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "unknown",
    }
}

/// The pickle virtual machine, restricted to data.
struct Machine<'a> {
    file: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Offset of the opcode being executed (for errors).
    op_pos: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    tuples: Vec<Vec<Value>>,
    lists: Vec<Vec<Value>>,
    dicts: Vec<Vec<(Value, Value)>>,
}

type Res<T> = Result<T, ReferenceError>;

impl<'a> Machine<'a> {
    fn err(&self, reason: impl Into<String>) -> ReferenceError {
        ReferenceError::Pickle {
            file: self.file.to_string(),
            offset: self.op_pos,
            reason: reason.into(),
        }
    }

    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                self.err(format!(
                    "truncated: needs {n} more byte(s), {} left",
                    self.bytes.len() - self.pos
                ))
            })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Res<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Res<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Res<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Res<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn len(&mut self, n: u64) -> Res<usize> {
        usize::try_from(n).map_err(|_| self.err(format!("length {n} does not fit in memory")))
    }

    fn utf8(&mut self, n: usize) -> Res<String> {
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| self.err("string is not valid UTF-8"))
    }

    fn line(&mut self) -> Res<String> {
        let rest = &self.bytes[self.pos..];
        let n = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or_else(|| self.err("truncated: unterminated GLOBAL line"))?;
        let s = self.utf8(n)?;
        self.pos += 1;
        Ok(s)
    }

    fn push(&mut self, v: Value) {
        self.stack.push(v);
    }

    fn push_tuple(&mut self, items: Vec<Value>) {
        self.tuples.push(items);
        self.push(Value::Tuple(self.tuples.len() - 1));
    }

    fn new_dict(&mut self) -> Value {
        self.dicts.push(Vec::new());
        Value::Dict(self.dicts.len() - 1)
    }

    fn pop(&mut self) -> Res<Value> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.err("stack underflow"));
        }
        Ok(self.stack.pop().expect("stack checked non-empty"))
    }

    fn top(&self) -> Res<&Value> {
        self.stack.last().ok_or_else(|| self.err("stack underflow"))
    }

    fn pop_mark(&mut self) -> Res<Vec<Value>> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| self.err("no MARK to pop to"))?;
        if mark > self.stack.len() {
            return Err(self.err("stack underflow below MARK"));
        }
        Ok(self.stack.split_off(mark))
    }

    fn memo_get(&self, idx: u32) -> Res<Value> {
        self.memo
            .get(&idx)
            .cloned()
            .ok_or_else(|| self.err(format!("memo entry {idx} was never stored")))
    }

    fn memo_put(&mut self, idx: u32) -> Res<()> {
        let v = self.top()?.clone();
        self.memo.insert(idx, v);
        Ok(())
    }

    fn global(&self, module: &str, name: &str) -> Res<Value> {
        let callable = match (module, name) {
            ("collections", "OrderedDict") => Callable::OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2") => Callable::RebuildTensorV2,
            ("torch._utils", "_rebuild_parameter") => Callable::RebuildParameter,
            ("torch", n) if n.ends_with("Storage") && n.len() > "Storage".len() => {
                Callable::StorageClass(StorageDtype::from_class(n))
            }
            _ => {
                return Err(ReferenceError::ForbiddenGlobal {
                    file: self.file.to_string(),
                    module: module.to_string(),
                    name: name.to_string(),
                });
            }
        };
        Ok(Value::Callable(callable))
    }

    fn int(&self, v: &Value, what: &str) -> Res<i64> {
        match v {
            Value::Int(i) => Ok(*i),
            other => Err(self.err(format!("{what}: expected an int, found {}", other.kind()))),
        }
    }

    fn usize_of(&self, v: &Value, what: &str) -> Res<usize> {
        let i = self.int(v, what)?;
        usize::try_from(i).map_err(|_| self.err(format!("{what}: {i} is negative")))
    }

    fn usize_tuple(&self, v: &Value, what: &str) -> Res<Vec<usize>> {
        match v {
            Value::Tuple(i) => self.tuples[*i]
                .iter()
                .map(|x| self.usize_of(x, what))
                .collect(),
            other => Err(self.err(format!("{what}: expected a tuple, found {}", other.kind()))),
        }
    }

    fn persistent_load(&self, pid: Value) -> Res<Value> {
        let Value::Tuple(pid) = pid else {
            return Err(self.err(format!(
                "persistent id: expected a tuple, found {}",
                pid.kind()
            )));
        };
        match self.tuples[pid].as_slice() {
            [
                Value::Str(tag),
                Value::Callable(Callable::StorageClass(dtype)),
                Value::Str(key),
                Value::Str(_location),
                numel,
            ] if tag == "storage" => Ok(Value::Storage(StorageRef {
                key: key.clone(),
                dtype: dtype.clone(),
                numel: self.usize_of(numel, "storage numel")?,
            })),
            _ => Err(self
                .err("persistent id is not ('storage', torch.<X>Storage, key, location, numel)")),
        }
    }

    fn reduce(&mut self, callable: Value, args: Value) -> Res<Value> {
        let Value::Callable(callable) = callable else {
            return Err(self.err(format!("REDUCE on a {}, not a callable", callable.kind())));
        };
        let Value::Tuple(args) = args else {
            return Err(self.err(format!(
                "REDUCE arguments are a {}, not a tuple",
                args.kind()
            )));
        };
        let args = self.tuples[args].clone();
        match callable {
            Callable::OrderedDict => {
                if !args.is_empty() {
                    return Err(self.err("OrderedDict called with arguments"));
                }
                Ok(self.new_dict())
            }
            Callable::RebuildTensorV2 => {
                // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
                if !(6..=7).contains(&args.len()) {
                    return Err(self.err(format!(
                        "_rebuild_tensor_v2 takes 6 or 7 arguments, got {}",
                        args.len()
                    )));
                }
                let Value::Storage(storage) = &args[0] else {
                    return Err(self.err(format!(
                        "_rebuild_tensor_v2: expected a storage, found {}",
                        args[0].kind()
                    )));
                };
                let offset = self.usize_of(&args[1], "storage offset")?;
                let shape = self.usize_tuple(&args[2], "tensor size")?;
                let stride = self.usize_tuple(&args[3], "tensor stride")?;
                if shape.len() != stride.len() {
                    return Err(self.err(format!(
                        "size {shape:?} and stride {stride:?} have different ranks"
                    )));
                }
                Ok(Value::Tensor(TensorRef {
                    storage: storage.clone(),
                    offset,
                    shape,
                    stride,
                }))
            }
            Callable::RebuildParameter => {
                // (data, requires_grad, backward_hooks)
                match args.first() {
                    Some(Value::Tensor(t)) if args.len() == 3 => Ok(Value::Tensor(t.clone())),
                    _ => Err(self.err("_rebuild_parameter: expected (tensor, bool, hooks)")),
                }
            }
            Callable::StorageClass(d) => {
                Err(self.err(format!("storage class {} called directly", d.class_name())))
            }
        }
    }

    fn set_items(&mut self, target: &Value, items: Vec<Value>) -> Res<()> {
        let &Value::Dict(dict) = target else {
            return Err(self.err(format!("SETITEM(S) on a {}, not a dict", target.kind())));
        };
        if !items.len().is_multiple_of(2) {
            return Err(self.err("SETITEMS with an odd number of items"));
        }
        let dict = &mut self.dicts[dict];
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            if let Value::Str(ks) = &k
                && let Some(slot) = dict
                    .iter_mut()
                    .find(|(old, _)| matches!(old, Value::Str(o) if o == ks))
            {
                slot.1 = v;
                continue;
            }
            dict.push((k, v));
        }
        Ok(())
    }

    fn run(&mut self) -> Res<Value> {
        loop {
            self.op_pos = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(self.err(format!("unknown pickle protocol {proto}")));
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint only
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'}' => {
                    let v = self.new_dict();
                    self.push(v);
                }
                b']' => {
                    self.lists.push(Vec::new());
                    self.push(Value::List(self.lists.len() - 1));
                }
                b')' => self.push_tuple(Vec::new()),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_tuple(items);
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push_tuple(items);
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = self.utf8(n)?;
                    self.push(Value::Str(s));
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let s = self.utf8(n)?;
                    self.push(Value::Str(s));
                }
                0x8d => {
                    let n = self.u64()?;
                    let n = self.len(n)?;
                    let s = self.utf8(n)?;
                    self.push(Value::Str(s));
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(v as i64));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v as i64));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(v as i64));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    if n > 8 {
                        return Err(self.err(format!("LONG1 of {n} bytes exceeds 64 bits")));
                    }
                    let b = self.take(n)?;
                    let mut buf = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                        [0xffu8; 8]
                    } else {
                        [0u8; 8]
                    };
                    buf[..n].copy_from_slice(b);
                    self.push(Value::Int(i64::from_le_bytes(buf)));
                }
                b'G' => {
                    self.take(8)?; // big-endian f64
                    self.push(Value::Float);
                }
                b'N' => self.push(Value::None),
                0x88 | 0x89 => self.push(Value::Bool),
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let v = self.global(&module, &name)?;
                    self.push(v);
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Value::Str(module), Value::Str(name)) = (module, name) else {
                        return Err(self.err("STACK_GLOBAL needs two strings"));
                    };
                    let v = self.global(&module, &name)?;
                    self.push(v);
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent_load(pid)?;
                    self.push(v);
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.reduce(callable, args)?;
                    self.push(v);
                }
                b'b' => {
                    let state = self.pop()?;
                    match (self.top()?, &state) {
                        // OrderedDict attributes (`_metadata` of a state dict): not needed.
                        (Value::Dict(_), Value::Dict(_)) => {}
                        (obj, _) => {
                            return Err(self.err(format!(
                                "BUILD of a {} with a {} state",
                                obj.kind(),
                                state.kind()
                            )));
                        }
                    }
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let target = self.top()?.clone();
                    self.set_items(&target, vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let target = self.top()?.clone();
                    self.set_items(&target, items)?;
                }
                b'a' | b'e' => {
                    let items = if op == b'a' {
                        vec![self.pop()?]
                    } else {
                        self.pop_mark()?
                    };
                    match self.top()? {
                        &Value::List(l) => self.lists[l].extend(items),
                        other => {
                            return Err(
                                self.err(format!("APPEND(S) on a {}, not a list", other.kind()))
                            );
                        }
                    }
                }
                b'q' => {
                    let i = self.u8()? as u32;
                    self.memo_put(i)?;
                }
                b'r' => {
                    let i = self.u32()?;
                    self.memo_put(i)?;
                }
                0x94 => {
                    let i = self.memo.len() as u32;
                    self.memo_put(i)?;
                }
                b'h' => {
                    let i = self.u8()? as u32;
                    let v = self.memo_get(i)?;
                    self.push(v);
                }
                b'j' => {
                    let i = self.u32()?;
                    let v = self.memo_get(i)?;
                    self.push(v);
                }
                other => {
                    return Err(ReferenceError::ForbiddenOpcode {
                        file: self.file.to_string(),
                        opcode: other,
                        name: opcode_name(other),
                        offset: self.op_pos,
                    });
                }
            }
        }
    }
}

/// Runs the pickle program `bytes` (a `data.pkl`) and returns the state dict it builds: every
/// entry's name and tensor view, in file order. `file` names the checkpoint in errors.
///
/// ```
/// use hypermod::reference::pickle::parse_state_dict;
/// // `{}` pickled with protocol 2: PROTO 2, EMPTY_DICT, STOP.
/// assert!(parse_state_dict(b"\x80\x02}.", "x.pt").unwrap().is_empty());
/// // `os.system` is refused before anything could run.
/// assert!(parse_state_dict(b"\x80\x02cos\nsystem\n.", "x.pt").is_err());
/// ```
pub fn parse_state_dict(
    bytes: &[u8],
    file: &str,
) -> Result<Vec<(String, TensorRef)>, ReferenceError> {
    let mut m = Machine {
        file,
        bytes,
        pos: 0,
        op_pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        tuples: Vec::new(),
        lists: Vec::new(),
        dicts: Vec::new(),
    };
    let root = m.run()?;
    let not_sd = |reason: String| ReferenceError::NotAStateDict {
        file: file.to_string(),
        reason,
    };
    let Value::Dict(dict) = root else {
        return Err(not_sd(format!(
            "the pickle holds a {}, not a dict",
            root.kind()
        )));
    };
    let dict = &m.dicts[dict];
    let mut out = Vec::with_capacity(dict.len());
    for (k, v) in dict.iter() {
        let Value::Str(key) = k else {
            return Err(not_sd(format!("a key is a {}, not a str", k.kind())));
        };
        let Value::Tensor(t) = v else {
            return Err(not_sd(format!(
                "`{key}` holds a {}, not a tensor",
                v.kind()
            )));
        };
        out.push((key.clone(), t.clone()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> Result<Vec<(String, TensorRef)>, ReferenceError> {
        parse_state_dict(b, "t.pt")
    }

    /// `{'w': _rebuild_tensor_v2(<storage '0' FloatStorage numel 6>, 1, (2, 2), (1, 2), False, OrderedDict())}`
    fn one_tensor(storage_class: &str) -> Vec<u8> {
        let mut b = b"\x80\x02}q\x00(X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\nq\x01((X\x07\x00\x00\x00storagectorch\n".to_vec();
        b.extend_from_slice(storage_class.as_bytes());
        b.extend_from_slice(
            b"\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x06tQK\x01K\x02K\x02\x86K\x01K\x02\x86\x89ccollections\nOrderedDict\n)Rtq\x02Ru.",
        );
        b
    }

    #[test]
    fn reads_a_strided_tensor_view() {
        let sd = parse(&one_tensor("FloatStorage")).unwrap();
        assert_eq!(sd.len(), 1);
        let (k, t) = &sd[0];
        assert_eq!(k, "w");
        assert_eq!(t.storage.key, "0");
        assert_eq!(t.storage.dtype, StorageDtype::F32);
        assert_eq!(t.storage.numel, 6);
        assert_eq!(
            (t.offset, t.shape.clone(), t.stride.clone()),
            (1, vec![2, 2], vec![1, 2])
        );
    }

    #[test]
    fn names_other_storage_types_instead_of_refusing_them() {
        let sd = parse(&one_tensor("LongStorage")).unwrap();
        assert_eq!(
            sd[0].1.storage.dtype,
            StorageDtype::Other("LongStorage".into())
        );
    }

    #[test]
    fn refuses_forbidden_globals_by_name() {
        let e = parse(b"\x80\x02cbuiltins\neval\n.").unwrap_err();
        assert!(
            matches!(&e, ReferenceError::ForbiddenGlobal { module, name, .. } if module == "builtins" && name == "eval"),
            "{e}"
        );
        // STACK_GLOBAL goes through the same allow-list.
        let e = parse(b"\x80\x04\x8c\x02os\x8c\x06system\x93.").unwrap_err();
        assert!(matches!(e, ReferenceError::ForbiddenGlobal { .. }), "{e}");
    }

    #[test]
    fn refuses_opcodes_outside_the_subset() {
        // INST builds an arbitrary class instance.
        let e = parse(b"\x80\x02(ios\nsystem\n.").unwrap_err();
        assert!(
            matches!(
                e,
                ReferenceError::ForbiddenOpcode {
                    opcode: b'i',
                    name: "INST",
                    offset: 3,
                    ..
                }
            ),
            "{e}"
        );
        let e = parse(b"\x80\x02\x81.").unwrap_err();
        assert!(
            matches!(e, ReferenceError::ForbiddenOpcode { name: "NEWOBJ", .. }),
            "{e}"
        );
        let e = parse(b"\x80\x02\xff.").unwrap_err();
        assert!(
            matches!(
                e,
                ReferenceError::ForbiddenOpcode {
                    name: "unknown",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn malformed_programs_are_typed_errors() {
        for bad in [
            &b"\x80\x02}"[..],               // no STOP
            b"\x80\x02X\xff\x00\x00\x00ab.", // string longer than the data
            b"\x80\x02t.",                   // TUPLE without MARK
            b"\x80\x02h\x05.",               // memo never stored
            b"\x80\x02s.",                   // SETITEM on an empty stack
            b"\x80\x02K\x01K\x02R.",         // REDUCE on an int
        ] {
            let e = parse(bad).unwrap_err();
            assert!(matches!(e, ReferenceError::Pickle { .. }), "{bad:?}: {e}");
        }
    }

    #[test]
    fn non_state_dicts_are_refused() {
        let e = parse(b"\x80\x02K\x01.").unwrap_err();
        assert!(matches!(e, ReferenceError::NotAStateDict { .. }), "{e}");
        // {'a': 1}
        let e = parse(b"\x80\x02}X\x01\x00\x00\x00aK\x01s.").unwrap_err();
        assert!(e.to_string().contains("`a` holds a int"), "{e}");
    }

    #[test]
    fn deep_nesting_neither_recurses_nor_overflows() {
        // EMPTY_TUPLE then a million TUPLE1: a million-deep tuple, then STOP.
        let mut b = b"\x80\x02)".to_vec();
        b.extend(std::iter::repeat_n(0x85u8, 1_000_000));
        b.push(b'.');
        let e = parse(&b).unwrap_err();
        assert!(matches!(e, ReferenceError::NotAStateDict { .. }), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn corrupted_state_dicts_never_panic(
            edits in proptest::collection::vec((0usize..1000, proptest::num::u8::ANY), 1..6),
        ) {
            let mut b = one_tensor("FloatStorage");
            for (pos, byte) in edits {
                let i = pos % b.len();
                b[i] = byte;
            }
            let _ = parse(&b);
        }
    }

    #[test]
    fn long1_is_signed_little_endian() {
        // A state dict is required at the top, so check through a storage numel.
        let mut b = one_tensor("FloatStorage");
        let pos = b.windows(2).position(|w| w == b"K\x06").unwrap();
        b.splice(
            pos..pos + 2,
            b"\x8a\x05\x00\x00\x00\x00\x01".iter().copied(),
        );
        let sd = parse(&b).unwrap();
        assert_eq!(sd[0].1.storage.numel, 1 << 32);
    }
}
