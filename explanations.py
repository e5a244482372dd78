"""What each tab says above its controls: the idea it shows, in a few sentences (Markdown)."""

EXPLANATION = """
**Forward process:** to train the model, Gaussian noise is added to real images step by step until only noise is left.
**Reverse process:** generation runs that backwards. It starts from pure noise and at every step the model removes a
little of it; the left image is the current noisy sample **x_t**. The right image is **x̂₀**, the model's guess at
that step of the clean image it is heading for: blurry at first, sharp as t approaches 0.
"""
LATENT_EXPLANATION = """
**Latent diffusion:** this model denoises a small *latent* (8×8×4 numbers for a 32×32 image), which an autoencoder
then decodes into pixels. The left image shows the latent's 4 channels as grey tiles; the right one is x̂₀ decoded.
The prompt steers every step through cross-attention; **guidance** pushes the prediction away from what the model
would draw without the prompt (1 = no guidance).
"""
SUPER_RESOLUTION_EXPLANATION = """
**Super-resolution:** the model draws a photo 4× larger than the one given. Bicubic interpolation, the classic way to
enlarge an image, gets the coarse picture right; the model diffuses only what bicubic misses, the *residual*, and sees
the small photo at every step. The left image is the noisy residual x_t (grey is zero); the right one is x̂₀, bicubic
plus the residual predicted at that step. Compare the result with bicubic by dragging its slider. Few steps give the
closest image to the original on average; more steps draw sharper, invented detail. Averaging several samples (each
sees the photo mirrored a different way) estimates the *mean* of the photos that shrink to yours, closer still; one
sample is sharper (x_t is then the first sample's, x̂₀ their mean). "Consistent with the photo" corrects each image
until, shrunk back, it is the photo given: the model then only adds detail.
"""
CLASSIFIER_GUIDANCE_EXPLANATION = """
**Classifier guidance** (Dhariwal & Nichol 2021): the unconditional model above knows no words, but a small
classifier that reads *noisy* images (trained at every noise level t) can tell it which way "red" or "circle" lies.
At every step the gradient of the classifier's log p(target | x_t), times the **guidance strength** s and the step's
noise variance Σ, moves the step's mean: x_t−1 ~ N(μ + s·Σ·∇ log p(target | x_t), Σ). The status shows the
classifier's probability of the target at each step. The result's **top row is guided; the bottom row is the same
seeds without guidance** (s = 0).
"""
PNG_INFO_EXPLANATION = """
Every result this app serves is a PNG that carries its settings in a `parameters` text, as AUTOMATIC1111's web UI
writes them. Drop one here (or one of AUTOMATIC1111's) to read them; **Restore** puts them into their tab, where
Generate makes the same image again (inpainting and super-resolution: load the image or photo again); a Compare
grid's go back into the Compare tab, with each cell's scale or sampler, and make the same grid again.
"""
INPAINTING_EXPLANATION = """
**Inpainting:** paint over part of an image (or pick an example and paint over one shape), then describe what should
be there. At every step the unpainted part is reset to the original, noised to the current level, so the model only
invents the painted part and makes it fit. Pixels outside the mask are kept exactly.
**Soft mask** (Differential Diffusion): the brush strength is how much a pixel may change. A pixel painted at 0.3
follows the noised original for the first 70 % of the steps and is free for the last 30 %: low levels keep the
layout, high ones let the model redraw it (with strong guidance the prompt's colour wins even at low levels). The
change map shows how much each pixel changed.
"""
