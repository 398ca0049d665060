import pytest
import torch

from harness.core.errors import UsageError
from harness.core.zoo import MODELS, build_model, get_spec

# Published parameter counts of torchvision's models.
TORCHVISION_PARAMETERS = {"mobilenet_v2": 3_504_872, "vgg19": 143_667_240,
                          "densenet121": 7_978_856}

# Key names and shapes as they stand in torchvision's official checkpoints.
TORCHVISION_KEYS = {
    "mobilenet_v2": {
        "features.0.0.weight": (32, 3, 3, 3),
        "features.0.1.running_var": (32,),
        "features.1.conv.0.0.weight": (32, 1, 3, 3),
        "features.1.conv.1.weight": (16, 32, 1, 1),
        "features.2.conv.0.0.weight": (96, 16, 1, 1),
        "features.2.conv.3.bias": (24,),
        "features.18.0.weight": (1280, 320, 1, 1),
        "classifier.1.weight": (1000, 1280),
    },
    "vgg19": {
        "features.0.weight": (64, 3, 3, 3),
        "features.34.weight": (512, 512, 3, 3),
        "classifier.0.weight": (4096, 25088),
        "classifier.3.weight": (4096, 4096),
        "classifier.6.bias": (1000,),
    },
    "densenet121": {
        "features.conv0.weight": (64, 3, 7, 7),
        "features.denseblock1.denselayer1.norm1.weight": (64,),
        "features.denseblock1.denselayer1.conv2.weight": (32, 128, 3, 3),
        "features.transition3.conv.weight": (512, 1024, 1, 1),
        "features.denseblock4.denselayer16.conv2.weight": (32, 128, 3, 3),
        "features.norm5.running_mean": (1024,),
        "classifier.weight": (1000, 1024),
    },
}


@pytest.mark.parametrize("name", MODELS.names())
def test_architecture_matches_torchvision(name):
    model = build_model(name)
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_PARAMETERS[name]
    state = model.state_dict()
    for key, shape in TORCHVISION_KEYS[name].items():
        assert tuple(state[key].shape) == shape, key


@pytest.mark.parametrize("name", MODELS.names())
def test_forward_gives_logits_in_eval_mode(name):
    model = build_model(name)
    assert not model.training
    with torch.inference_mode():
        out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, get_spec(name).num_classes)
    assert torch.isfinite(out).all()


def test_unknown_model_lists_choices():
    with pytest.raises(UsageError, match="mobilenet_v2, vgg19, densenet121"):
        get_spec("resnet50")
