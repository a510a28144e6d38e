"""One generation step, shared by training, training's held-out figures and inference (transfer,
evaluate), so that all three run the networks exactly alike:

    x     = [label, previous frame, exemplar (posed + its alpha, or frame + label), plate]
    raw   = G(x)                                  # colour (3) [+ alpha (1)], tanh
    colour = posed exemplar + raw colour          # residual exemplar models; else the raw colour
    alpha = exemplar alpha + raw alpha            # residual exemplar models; else (raw alpha + 1) / 2
    image = alpha * colour + (1 - alpha) * plate  # with the background plate; else image = colour
    image = face residual added on the face crop  # once the face GAN is trained

Images are (B, C, H, W) float tensors in [-1, 1]; alpha is (B, 1, H, W) in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from dancenow.synth.config import SynthConfig


@dataclass
class Conditioning:
    """What the generator sees besides the previous frame, each (B, C, H, W) in [-1, 1]: the
    label; the exemplar (the posed exemplar and its alpha, or the exemplar frame and its label);
    the background plate (B may be 1: it is broadcast)."""

    label: torch.Tensor
    exemplar: torch.Tensor | None = None
    exemplar_label: torch.Tensor | None = None
    plate: torch.Tensor | None = None
    exemplar_alpha: torch.Tensor | None = None  # (B, 1, H, W) in [0, 1]: the posed exemplar's person
    # (1, 1, H, W) in [0, 1]: where the model's pixels lie inside the video (`Crop.inside`); the
    # alpha is 0 elsewhere. None: everywhere.
    inside: torch.Tensor | None = None


def generator_input(cfg: SynthConfig, cond: Conditioning, prev: torch.Tensor | None) -> torch.Tensor:
    """The generator's input channels (see the module docstring); a missing previous frame (a
    sequence's first) is zeros."""
    label = cond.label
    b, dtype = label.shape[0], label.dtype
    parts = [label]
    if cfg.temporal:
        if prev is None:
            prev = torch.zeros(b, cfg.output_nc, *label.shape[2:], dtype=dtype, device=label.device)
        parts.append(prev.to(dtype))
    if cfg.exemplar.enabled:
        if cond.exemplar is None or (cond.exemplar_label is None and not cfg.exemplar.warp):
            raise ValueError("this generator is conditioned on an exemplar: pass it (and its label when not posed)")
        parts.append(cond.exemplar.to(dtype))
        if cfg.exemplar.warp:
            if cond.exemplar_alpha is None:
                raise ValueError("this generator is shown posed exemplars: pass exemplar_alpha")
            parts.append(cond.exemplar_alpha.to(dtype) * 2 - 1)
        else:
            parts.append(cond.exemplar_label.to(dtype))
    if cfg.plate:
        if cond.plate is None:
            raise ValueError("this generator composites over a background plate: pass plate")
        parts.append(cond.plate.to(dtype).expand(b, -1, -1, -1))
    return torch.cat(parts, dim=1)


def composite(cfg: SynthConfig, raw: torch.Tensor, plate: torch.Tensor | None, exemplar: torch.Tensor | None = None,
              exemplar_alpha: torch.Tensor | None = None, inside: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(image, alpha) from the generator's raw output: colour over the plate by alpha, or the
    colour itself (alpha None) without a plate. Residual models correct the posed `exemplar`
    and its `exemplar_alpha`; the others draw both from scratch."""
    colour = raw[:, : cfg.output_nc]
    if cfg.residual:
        colour = (exemplar.to(raw.dtype) + colour).clamp(-1, 1)
    if not cfg.plate:
        return colour, None
    if cfg.residual:
        alpha = (exemplar_alpha.to(raw.dtype) + raw[:, cfg.output_nc:]).clamp(0, 1)
    else:
        alpha = (raw[:, cfg.output_nc:] + 1) * 0.5
    if inside is not None:
        # Past the video's edge the crop is black letterbox: on the tai-chi the generator drew
        # a line of alpha along that edge, with coloured stripes at the feet (held out, an old
        # model with this at inference only: person SSIM 0.673 -> 0.686).
        alpha = alpha * inside.to(alpha.dtype)
    return alpha * colour + (1 - alpha) * plate.to(raw.dtype), alpha


def generate(generator: nn.Module, cfg: SynthConfig, cond: Conditioning,
             prev: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The body generator's frame: (image, alpha)."""
    return composite(cfg, generator(generator_input(cfg, cond, prev)), cond.plate, cond.exemplar, cond.exemplar_alpha,
                     cond.inside)


# --------------------------------------------------------------------------- faces

def crop_faces(images: torch.Tensor, boxes: torch.Tensor, side: int) -> torch.Tensor:
    """(B, C, H, W) images, (B, 3) boxes (x0, y0, valid) -> (B, C, side, side) crops (boxes
    must lie inside the image: `face_boxes` clamps them)."""
    b = boxes.tolist()
    return torch.stack([images[i, :, y: y + side, x: x + side] for i, (x, y, _) in enumerate(b)])


def paste_faces(images: torch.Tensor, faces: torch.Tensor, boxes: torch.Tensor, side: int) -> torch.Tensor:
    """A copy of `images` with `faces` (B, C, side, side) written into the valid boxes."""
    out = images.clone()
    for i, (x, y, valid) in enumerate(boxes.tolist()):
        if valid:
            out[i, :, y: y + side, x: x + side] = faces[i]
    return out


def refine_faces(face_generator: nn.Module, labels: torch.Tensor, images: torch.Tensor,
                 boxes: torch.Tensor, side: int) -> torch.Tensor:
    """Add the face generator's residual to the face crops of `images` (where boxes are valid)."""
    if not bool((boxes[:, 2] > 0).any()):
        return images
    lab, img = crop_faces(labels, boxes, side), crop_faces(images, boxes, side)
    return paste_faces(images, (img + face_generator(lab, img)).clamp(-1, 1), boxes, side)


def step(generator: nn.Module, face_generator: nn.Module | None, cfg: SynthConfig, cond: Conditioning,
         prev: torch.Tensor | None, face_box: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One output frame, as inference makes it: the body generator, then the face residual
    (when a face generator and a box are given). Returns (image, alpha)."""
    image, alpha = generate(generator, cfg, cond, prev)
    if face_generator is not None and face_box is not None:
        image = refine_faces(face_generator, cond.label, image.float(), face_box, cfg.face_crop)
    return image.float(), None if alpha is None else alpha.float()


# --------------------------------------------------------------------------- conversions

def to_tensor(img: np.ndarray, device) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [-1, 1]."""
    t = torch.tensor(np.asarray(img), device=device)  # a copy: frames may be read-only memmaps
    return t.permute(2, 0, 1)[None].float().div(127.5).sub(1.0)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) float in [-1, 1] -> (H, W, 3) uint8."""
    if t.ndim == 4:
        t = t[0]
    return ((t.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def to_mask(alpha: torch.Tensor) -> np.ndarray:
    """(1, 1, H, W) alpha in [0, 1] -> (H, W) float32."""
    return alpha.detach().float()[0, 0].clamp(0, 1).cpu().numpy()
