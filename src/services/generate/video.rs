//! Video generation: the [`VideoGenerator`] trait and the builtin clip renderer. The
//! `openai` provider's videos API is in `openai.rs`; the worker stores what either makes
//! through `storage::video` (checked, served copy without metadata, poster frame).

use std::sync::Mutex;

use super::landscape::{Landscape, Motion};
use super::{GenerateError, Progress};
use crate::storage::video::{Ffmpeg, StagedClip};

/// Clip lengths a request may ask for, in seconds.
pub const SECONDS: std::ops::RangeInclusive<u32> = 2..=8;
/// The length when a request names none.
pub const DEFAULT_SECONDS: u32 = 4;
/// Frames per second of the builtin clips.
pub const FPS: u32 = 16;

/// What clip to make.
#[derive(Debug, Clone)]
pub struct VideoRequest {
    pub prompt: String,
    pub seconds: u32,
    pub width: u32,
    pub height: u32,
    pub seed: u64,
}

/// What a provider says of the clip it wrote (MP4 or WebM bytes, into the staged file).
#[derive(Debug, Clone)]
pub struct GeneratedVideo {
    pub model: String,
}

/// How far the clip being made is: the provider writes it, the worker reads it and puts it
/// on the job. One per job, so two clips made at once never mix their progress.
#[derive(Debug, Default)]
pub struct ProgressCell(Mutex<Option<Progress>>);

impl ProgressCell {
    pub fn set(&self, progress: Progress) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(progress);
        }
    }

    pub fn get(&self) -> Option<Progress> {
        self.0.lock().ok().and_then(|slot| *slot)
    }
}

/// A video provider. Blocking: call from the blocking pool.
pub trait VideoGenerator: Send + Sync {
    /// The provider's name, stored with each clip.
    fn provider(&self) -> &'static str;
    /// Makes the clip and writes it to `clip` (a file in a private workspace: clips are
    /// never held whole in memory on their way in).
    fn generate_video(
        &self,
        request: &VideoRequest,
        progress: &ProgressCell,
        clip: &mut StagedClip,
    ) -> Result<GeneratedVideo, GenerateError>;
}

/// The builtin clip: the landscape [`super::landscape::render`] paints for the prompt, with
/// the camera drifting, the light moving, clouds sailing and water rippling, encoded as
/// H.264 MP4 by ffmpeg. The same request gives the same bytes.
pub struct BuiltinVideo {
    ffmpeg: Ffmpeg,
}

pub const BUILTIN_MODEL: &str = "atelier-landscape-motion-1";

impl BuiltinVideo {
    pub fn new(ffmpeg: Ffmpeg) -> Self {
        BuiltinVideo { ffmpeg }
    }
}

impl VideoGenerator for BuiltinVideo {
    fn provider(&self) -> &'static str {
        "builtin"
    }

    fn generate_video(
        &self,
        request: &VideoRequest,
        progress: &ProgressCell,
        clip: &mut StagedClip,
    ) -> Result<GeneratedVideo, GenerateError> {
        let landscape =
            Landscape::new(&request.prompt, request.seed, request.width, request.height);
        let count = request.seconds * FPS;
        let seconds = request.seconds as f32;
        let paint = |frame: u32| {
            landscape.paint(&Motion {
                t: frame as f32 / (count - 1).max(1) as f32,
                seconds,
                frame,
                amount: 1.0,
            })
        };
        // Frames are independent: paint them on several threads (frame i on lane i mod
        // lanes), each lane a step ahead at most, and hand them to ffmpeg in order.
        let lanes = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4)) as u32;
        let bytes = std::thread::scope(|scope| {
            let receivers: Vec<_> = (0..lanes)
                .map(|lane| {
                    let (send, receive) = std::sync::mpsc::sync_channel(1);
                    let paint = &paint;
                    scope.spawn(move || {
                        for frame in (lane..count).step_by(lanes as usize) {
                            if send.send(paint(frame)).is_err() {
                                break;
                            }
                        }
                    });
                    receive
                })
                .collect();
            let frames = (0..count).map_while(|frame| {
                progress.set(Progress {
                    done: frame as f32 / count as f32,
                    eta_secs: None,
                });
                receivers[(frame % lanes) as usize].recv().ok()
            });
            self.ffmpeg
                .encode_h264(request.width, request.height, FPS, frames)
        })
        .map_err(|problem| GenerateError(problem.message()))?;
        std::io::Write::write_all(&mut clip.file, &bytes)
            .map_err(|err| GenerateError(format!("The clip could not be written: {err}")))?;
        Ok(GeneratedVideo {
            model: BUILTIN_MODEL.to_owned(),
        })
    }
}

/// Clip rendering time, for `bench/thumbnail.sh` (release; prints, asserts nothing about
/// time).
#[cfg(test)]
mod timing {
    use super::*;

    #[test]
    #[ignore = "a measurement, run by bench/thumbnail.sh"]
    fn builtin_clip_4s() {
        let root = tempfile::tempdir().expect("work root");
        let ffmpeg = Ffmpeg::find("ffmpeg", root.path()).expect("ffmpeg");
        let request = VideoRequest {
            prompt: "waves rolling onto a beach under a golden sunset".into(),
            seconds: 4,
            width: 512,
            height: 512,
            seed: 1,
        };
        let (mut render_ms, mut prepare_ms) = (Vec::new(), Vec::new());
        let mut size = 0;
        for _ in 0..5 {
            let started = std::time::Instant::now();
            let mut clip = ffmpeg.stage().expect("staged");
            BuiltinVideo::new(ffmpeg.clone())
                .generate_video(&request, &ProgressCell::default(), &mut clip)
                .expect("clip");
            render_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            let started = std::time::Instant::now();
            let prepared = ffmpeg.prepare_staged(&clip, 50_000_000).expect("prepared");
            prepare_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(prepared.duration_ms, 4000);
            size = clip.size().expect("size") as usize;
        }
        render_ms.sort_by(f64::total_cmp);
        prepare_ms.sort_by(f64::total_cmp);
        println!(
            "builtin clip 4 s 512x512 16 fps: render + H.264 encode {:.0} ms, checking + served copy + poster {:.0} ms, {} KB (median of 5)",
            render_ms[2],
            prepare_ms[2],
            size / 1000
        );
    }
}
