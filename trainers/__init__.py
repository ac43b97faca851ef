"""The reference trainers' sources (`trainer/`: the reference trainer and its distributed
example), shipped with vtp as `vtp._trainers` so that local runs can start them as their images
do (`python -m trainer.task` with this directory on the path). Their images are built from the
Dockerfiles here; they import nothing from vtp, and vtp's library code never imports them."""
