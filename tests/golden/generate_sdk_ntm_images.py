"""Regenerate sdk_ntm_images.json: the NTM image URI the SageMaker SDK gives for every region it lists.

Run with the SDK installed (``pip install 'sagemaker==2.257.7'`` in a scratch venv):
``python tests/golden/generate_sdk_ntm_images.py > tests/golden/sdk_ntm_images.json``
"""

import json
import logging

logging.disable(logging.INFO)  # the SDK logs its config search to stdout

import sagemaker
from sagemaker import image_uris

regions = image_uris.config_for_framework("ntm")["versions"]["1"]["registries"]
print(json.dumps({"sdk_version": sagemaker.__version__,
                  "images": {region: image_uris.retrieve("ntm", region, "1") for region in sorted(regions)}},
                 indent=1))
