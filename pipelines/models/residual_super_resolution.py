"""4x super-resolution by diffusion of what bicubic upsampling misses: the embedded `photo-sr-4x`.

    from pipelines.models.residual_super_resolution import ResidualSuperResolutionPipeline
    pipeline = ResidualSuperResolutionPipeline.from_pretrained("assets/models/photo-sr-4x")
    image = pipeline(Image.open("photo.png"), num_inference_steps=20).images[0]  # 4x larger
    image = pipeline(Image.open("photo.png"), num_inference_steps=1, samples=8).images[0]  # the app's, raw

SR3 (Saharia et al. 2021) diffuses the high-resolution image in pixel space, conditioned on its
bicubic upsampling; SRDiff (Li et al. 2022) diffuses only the residual, the high-resolution image
minus that upsampling. This pipeline does the latter, with no autoencoder: the residual is
rearranged losslessly into 48 channels at the input's own size (each 4x4 block of pixels into the
channels of one position, `pixel_unshuffle`), so that the UNet works at the small size, and
divided by its spread (`residual_scale`) to have the unit variance the noise schedule assumes.
The UNet sees x_t beside the low-resolution image (conditioning by concatenation, as in SR3 and
in `LDMSuperResolutionPipeline`). A model that has learnt nothing predicts a residual of 0, which
is bicubic; everything it learns is added to that.

A diffusers pipeline of two stock parts, `UNet2DModel` and a scheduler: diffusers has no pixel-space
super-resolution pipeline, and `LDMSuperResolutionPipeline` needs a 3-channel autoencoder latent
(its latents have half the UNet's input channels), whose round trip alone is below bicubic
(docs/models.md).
"""

from __future__ import annotations

import numpy as np
import torch
from diffusers import DiffusionPipeline, UNet2DModel
from diffusers.pipelines.pipeline_utils import ImagePipelineOutput
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from PIL import Image

from pipelines.engine.sampling import reverse_process

SCALE = 4
IMAGE_CHANNELS = 3
MIRRORS = ((), (-1,), (-2,), (-2, -1))  # dims flipped for sample i % 4: none, left-right, top-bottom, both


def mirrored(images: torch.Tensor, samples: int) -> torch.Tensor:
    """`samples` copies of a batch of one, copy i flipped as `MIRRORS[i % 4]` says.

    Averaging samples estimates the posterior mean E[x0 | photo], the result closest to the original
    on average; samples that see the photo mirrored (and are mirrored back) also average out the
    model's own left-right and top-bottom biases, the "self-ensemble" of Lim et al. 2017 (EDSR+).
    """
    return torch.cat([images.flip(MIRRORS[index % len(MIRRORS)]) for index in range(samples)])


def is_sample_count(samples: object) -> bool:
    """Whether `samples` can be a number of samples to average: a whole number (not a bool) of at least 1."""
    return isinstance(samples, int) and not isinstance(samples, bool) and samples >= 1


def unmirrored_mean(images: torch.Tensor) -> torch.Tensor:
    """The mean of a batch made by `mirrored`, each image flipped back first: a batch of one."""
    flipped_back = [image.flip(MIRRORS[index % len(MIRRORS)]) for index, image in enumerate(images)]
    return torch.stack(flipped_back).mean(dim=0, keepdim=True)


class ResidualSuperResolutionPipeline(DiffusionPipeline):
    model_cpu_offload_seq = "unet"

    def __init__(self, unet: UNet2DModel, scheduler: SchedulerMixin, residual_scale: float = 1.0) -> None:
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler)
        self.register_to_config(residual_scale=residual_scale)  # the residual's std, in [-1, 1] pixel units

    @property
    def size_multiple(self) -> int:
        """The UNet halves the input's size once per block but the last: sides must be a multiple of this."""
        return 2 ** (len(self.unet.config.block_out_channels) - 1)

    @staticmethod
    def upsample(low_resolution: torch.Tensor) -> torch.Tensor:
        """Bicubic upsampling, 4x: what the model adds its residual to."""
        return torch.nn.functional.interpolate(low_resolution, scale_factor=SCALE, mode="bicubic")

    def residual_latents(self, images: torch.Tensor, low_resolution: torch.Tensor) -> torch.Tensor:
        """x0 of the diffusion: (images - bicubic) / scale, each 4x4 block as 48 channels (for training)."""
        residual = (images - self.upsample(low_resolution)) / self.config.residual_scale
        return torch.nn.functional.pixel_unshuffle(residual, SCALE)

    def images_from_latents(self, latents: torch.Tensor, low_resolution: torch.Tensor) -> torch.Tensor:
        """The high-resolution images in [-1, 1] (unclipped) that `latents` describe: bicubic plus the residual."""
        residual = torch.nn.functional.pixel_shuffle(latents * self.config.residual_scale, SCALE)
        return self.upsample(low_resolution) + residual

    def denoise(self, noisy_latents: torch.Tensor, timestep: torch.Tensor, low_resolution: torch.Tensor):
        """The UNet's output (v, noise or x0, as the scheduler's config says) for x_t beside the small image."""
        return self.unet(torch.cat([noisy_latents, low_resolution], dim=1), timestep).sample

    @torch.no_grad()
    def __call__(
        self,
        image: Image.Image,
        num_inference_steps: int = 20,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        samples: int = 1,
    ) -> ImagePipelineOutput | tuple:
        """Upscale one RGB image 4x; its sides must be multiples of `size_multiple` (the app pads any size).

        `samples` > 1: the mean of that many samples, drawn as one batch, each seeing the image `mirrored`."""
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1
        low_resolution = torch.from_numpy(pixels).permute(2, 0, 1)[None].to(self.device, self.unet.dtype)
        if not is_sample_count(samples):
            raise ValueError(f"samples must be a whole number of at least 1; got {samples!r}.")
        if any(side % self.size_multiple for side in low_resolution.shape[-2:]):
            raise ValueError(f"The image's sides must be multiples of {self.size_multiple}; got {image.size}.")
        self.scheduler.set_timesteps(num_inference_steps, device=self.device)
        channels = self.unet.config.in_channels - IMAGE_CHANNELS
        views = mirrored(low_resolution, samples)
        noise = torch.randn((samples, channels, *low_resolution.shape[-2:]), generator=generator)
        denoising = reverse_process(
            lambda latents, timestep: self.denoise(latents, timestep, views),
            self.scheduler,
            noise.to(self.device, self.unet.dtype),
            generator=generator,
            eta=eta,
        )
        for step in self.progress_bar(denoising, total=len(self.scheduler.timesteps)):
            latents = step.sample
        images = unmirrored_mean(self.images_from_latents(latents, views))
        images = ((images.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1)
        images = images.float().cpu().numpy()
        if output_type == "pil":
            images = self.numpy_to_pil(images)
        return ImagePipelineOutput(images=images) if return_dict else (images,)
