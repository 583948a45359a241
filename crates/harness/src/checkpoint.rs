//! Checkpoints: one safetensors file holding the tensors, the serialised training state and the
//! number of metric rows written so far.
//!
//! The state (epoch, step, optimizer scalars, RNG positions: anything `Serialize`) is stored as a
//! JSON string in the safetensors metadata under `accel.state`, the metric row count under
//! `accel.metric_rows`. Files are written atomically (temp file in the same directory, fsync,
//! rename), so a crash while saving leaves the previous checkpoint intact.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use safetensors::tensor::{Dtype as StDtype, SafeTensors, View};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;

/// The checkpoint's file name inside a run directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

const FORMAT_KEY: &str = "accel.format";
const FORMAT: &str = "accel-checkpoint-1";
const STATE_KEY: &str = "accel.state";
const ROWS_KEY: &str = "accel.metric_rows";
/// Safetensors headers above this size are taken as corruption rather than read.
const MAX_HEADER: u64 = 100 << 20;

/// A checkpoint read back.
#[derive(Debug)]
pub struct Loaded<S> {
    /// The tensors, by name, on the requested device.
    pub tensors: HashMap<String, Tensor>,
    /// The training state.
    pub state: S,
    /// Metric rows that had been written when the checkpoint was saved.
    pub metric_rows: u64,
}

/// Writes `tensors`, `state` and `metric_rows` to `path` atomically.
///
/// Tensors may live on any device and have dtype u8, u32, i16, i32, i64, f16, bf16, f32 or f64.
pub fn save<S: Serialize>(
    path: &Path,
    tensors: &HashMap<String, Tensor>,
    state: &S,
    metric_rows: u64,
) -> Result<()> {
    let state = serde_json::to_string(state).map_err(|e| {
        Error::invalid(
            path,
            format!("the training state cannot be serialised as JSON: {e}"),
        )
    })?;
    let mut views = Vec::with_capacity(tensors.len());
    for (name, tensor) in tensors {
        views.push((name.as_str(), TensorBytes::of(name, tensor)?));
    }
    let metadata = HashMap::from([
        (FORMAT_KEY.to_string(), FORMAT.to_string()),
        (STATE_KEY.to_string(), state),
        (ROWS_KEY.to_string(), metric_rows.to_string()),
    ]);
    let bytes = safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::invalid(path, format!("cannot serialise the checkpoint: {e}")))?;
    write_atomic(path, &bytes)
}

/// Reads the checkpoint at `path`: tensors onto `device`, the state into `S`.
///
/// A truncated or corrupted file, or a state that does not fit `S`, is an error naming the file.
pub fn load<S: DeserializeOwned>(path: &Path, device: &Device) -> Result<Loaded<S>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| corrupted(path, &e))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| corrupted(path, &e))?;
    let info = Info::from_metadata(path, meta.metadata().as_ref())?;
    let state = serde_json::from_str(&info.state_json).map_err(|e| {
        Error::invalid(
            path,
            format!(
                "the saved training state does not fit this experiment's state type ({e}); \
                 was it written by another version? Start a new run"
            ),
        )
    })?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        let t = candle_core::safetensors::Load::load(&view, device)
            .map_err(|e| Error::invalid(path, format!("tensor `{name}` cannot be loaded: {e}")))?;
        tensors.insert(name, t);
    }
    Ok(Loaded {
        tensors,
        state,
        metric_rows: info.metric_rows,
    })
}

/// Reads only the metric row count recorded in the checkpoint at `path` (the header, not the
/// tensors), as needed to cut `metrics.csv` back before resuming.
pub fn read_metric_rows(path: &Path) -> Result<u64> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut n = [0u8; 8];
    file.read_exact(&mut n).map_err(|_| {
        Error::invalid(
            path,
            "truncated checkpoint (no header); delete it to restart the run",
        )
    })?;
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER || n + 8 > len {
        return Err(Error::invalid(
            path,
            "corrupted or truncated checkpoint (bad header length); delete it to restart the run",
        ));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header)
        .map_err(|e| Error::io(path, e))?;
    let json: serde_json::Value = serde_json::from_slice(&header)
        .map_err(|e| Error::invalid(path, format!("corrupted checkpoint header ({e})")))?;
    let metadata: Option<HashMap<String, String>> = json
        .get("__metadata__")
        .map(|m| serde_json::from_value(m.clone()))
        .transpose()
        .map_err(|e| Error::invalid(path, format!("corrupted checkpoint metadata ({e})")))?;
    Ok(Info::from_metadata(path, metadata.as_ref())?.metric_rows)
}

/// The harness's part of the metadata.
struct Info {
    state_json: String,
    metric_rows: u64,
}

impl Info {
    fn from_metadata(path: &Path, meta: Option<&HashMap<String, String>>) -> Result<Self> {
        let not_ours = || {
            Error::invalid(
                path,
                format!(
                    "not an accel checkpoint (no `{FORMAT_KEY}` metadata); delete it to restart the run"
                ),
            )
        };
        let meta = meta.ok_or_else(not_ours)?;
        if meta.get(FORMAT_KEY).map(String::as_str) != Some(FORMAT) {
            return Err(not_ours());
        }
        let metric_rows = meta
            .get(ROWS_KEY)
            .and_then(|r| r.parse().ok())
            .ok_or_else(|| {
                Error::invalid(path, format!("checkpoint metadata lacks `{ROWS_KEY}`"))
            })?;
        let state_json = meta.get(STATE_KEY).cloned().ok_or_else(|| {
            Error::invalid(path, format!("checkpoint metadata lacks `{STATE_KEY}`"))
        })?;
        Ok(Info {
            state_json,
            metric_rows,
        })
    }
}

fn corrupted(path: &Path, e: &safetensors::SafeTensorError) -> Error {
    Error::invalid(
        path,
        format!(
            "corrupted or truncated checkpoint ({e:?}); delete it to restart the run from its beginning"
        ),
    )
}

/// A tensor's bytes copied to the host, little-endian, in the form safetensors writes.
struct TensorBytes {
    dtype: StDtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl TensorBytes {
    fn of(name: &str, t: &Tensor) -> Result<Self> {
        let flat = t.flatten_all()?;
        let data = match t.dtype() {
            DType::U8 => flat.to_vec1::<u8>()?,
            DType::U32 => le(flat.to_vec1::<u32>()?, u32::to_le_bytes),
            DType::I16 => le(flat.to_vec1::<i16>()?, i16::to_le_bytes),
            DType::I32 => le(flat.to_vec1::<i32>()?, i32::to_le_bytes),
            DType::I64 => le(flat.to_vec1::<i64>()?, i64::to_le_bytes),
            DType::F16 => le(flat.to_vec1::<half::f16>()?, half::f16::to_le_bytes),
            DType::BF16 => le(flat.to_vec1::<half::bf16>()?, half::bf16::to_le_bytes),
            DType::F32 => le(flat.to_vec1::<f32>()?, f32::to_le_bytes),
            DType::F64 => le(flat.to_vec1::<f64>()?, f64::to_le_bytes),
            other => {
                return Err(Error::usage(format!(
                    "checkpoint tensor `{name}` has dtype {other:?}, which checkpoints do not store; \
                     convert it with to_dtype (e.g. to f32) before saving"
                )));
            }
        };
        Ok(TensorBytes {
            dtype: t.dtype().into(),
            shape: t.dims().to_vec(),
            data,
        })
    }
}

fn le<T, const N: usize>(values: Vec<T>, bytes: fn(T) -> [u8; N]) -> Vec<u8> {
    values.into_iter().flat_map(bytes).collect()
}

impl View for TensorBytes {
    fn dtype(&self) -> StDtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct State {
        epoch: usize,
        lr: f64,
        history: Vec<f64>,
        phase: String,
    }

    fn state() -> State {
        State {
            epoch: 3,
            lr: 0.1 + 0.2,
            history: vec![1.0 / 3.0, 1e-300, -2.5],
            phase: "warmup".into(),
        }
    }

    fn tensors() -> HashMap<String, Tensor> {
        let d = Device::Cpu;
        let w = Tensor::new(&[[1.5f32, -2.0], [0.1, 3.25]], &d).unwrap();
        HashMap::from([
            ("w".to_string(), w.clone()),
            ("w_t".to_string(), w.t().unwrap()), // non-contiguous
            (
                "b64".to_string(),
                Tensor::new(&[0.1f64, 1e-300], &d).unwrap(),
            ),
            ("h".to_string(), w.to_dtype(DType::BF16).unwrap()),
            ("f16".to_string(), w.to_dtype(DType::F16).unwrap()),
            (
                "idx".to_string(),
                Tensor::new(&[7u32, 0, 4_000_000_000], &d).unwrap(),
            ),
            (
                "steps".to_string(),
                Tensor::new(&[-5i64, 1 << 40], &d).unwrap(),
            ),
            ("scalar".to_string(), Tensor::new(2.5f32, &d).unwrap()),
        ])
    }

    fn same(a: &Tensor, b: &Tensor) -> bool {
        a.dims() == b.dims()
            && a.dtype() == b.dtype()
            && a.to_dtype(DType::F64)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap()
                == b.to_dtype(DType::F64)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f64>()
                    .unwrap()
    }

    #[test]
    fn round_trip_of_tensors_of_several_dtypes_and_state() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(CHECKPOINT_FILE);
        let t = tensors();
        save(&p, &t, &state(), 17).unwrap();
        let back: Loaded<State> = load(&p, &Device::Cpu).unwrap();
        assert_eq!(back.state, state());
        assert_eq!(back.state.lr.to_bits(), (0.1f64 + 0.2).to_bits());
        assert_eq!(back.metric_rows, 17);
        assert_eq!(read_metric_rows(&p).unwrap(), 17);
        assert_eq!(back.tensors.len(), t.len());
        for (name, tensor) in &t {
            assert!(same(tensor, &back.tensors[name]), "{name}");
        }
    }

    #[test]
    fn truncated_or_garbage_checkpoints_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(CHECKPOINT_FILE);
        save(&p, &tensors(), &state(), 1).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        for cut in [3, 8, 40, bytes.len() - 5] {
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let e = load::<State>(&p, &Device::Cpu).unwrap_err().to_string();
            assert!(
                e.contains(CHECKPOINT_FILE) && e.contains("truncated"),
                "cut {cut}: {e}"
            );
        }
        std::fs::write(&p, b"garbage garbage garbage").unwrap();
        let e = load::<State>(&p, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains(CHECKPOINT_FILE), "{e}");
        assert!(read_metric_rows(&p).is_err());
    }

    #[test]
    fn a_state_of_the_wrong_type_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(CHECKPOINT_FILE);
        save(&p, &HashMap::new(), &"just a string", 0).unwrap();
        let e = load::<State>(&p, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("does not fit"), "{e}");
    }

    #[test]
    fn foreign_safetensors_files_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(CHECKPOINT_FILE);
        let t = Tensor::new(&[1f32], &Device::Cpu).unwrap();
        candle_core::safetensors::save(&HashMap::from([("a", t)]), &p).unwrap();
        let e = load::<State>(&p, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("not an accel checkpoint"), "{e}");
    }

    #[test]
    fn a_crash_while_saving_leaves_the_previous_checkpoint_loadable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(CHECKPOINT_FILE);
        save(&p, &tensors(), &state(), 5).unwrap();
        // Simulate a save killed halfway: a partial temp file beside the real one.
        let temp = crate::fsutil::temp_path(&p, false);
        std::fs::write(&temp, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"partial").unwrap();
        let back: Loaded<State> = load(&p, &Device::Cpu).unwrap();
        assert_eq!(back.metric_rows, 5);
        // The next save overwrites the stale temp file and succeeds.
        save(&p, &tensors(), &state(), 6).unwrap();
        assert_eq!(read_metric_rows(&p).unwrap(), 6);
        assert!(!temp.exists());
    }
}
