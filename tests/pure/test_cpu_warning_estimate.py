"""The warning before a real model runs on the CPU: when it is given, and how its rough time scales."""

from neural_previs.addon.cpu_warning import cpu_warning, rough_cpu_seconds

CPU = {"device": "cpu", "device_type": "cpu", "device_name": "AMD Ryzen 9 7950X"}
GPU = {"device": "cuda:0 (NVIDIA GeForce RTX 4090)", "device_type": "cuda", "device_name": "NVIDIA GeForce RTX 4090"}
MAC = {"device": "mps (Apple M3 Max)", "device_type": "mps", "device_name": "Apple M3 Max"}
OLD_WORKER = {"device": "cpu"}  # a hello from before device_type existed


def test_a_real_model_on_an_engine_without_gpu_is_announced_with_a_time():
    warning = cpu_warning("wan-vace-1.3b", "auto", CPU, 81, 832, 480, 30)
    assert warning.startswith("No GPU: the engine runs on the CPU, where wan-vace-1.3b for 81 frames at 832x480 takes about ")
    assert "hours even on a fast CPU" in warning
    assert cpu_warning("wan-vace-1.3b", "auto", OLD_WORKER, 81, 832, 480, 30) == warning


def test_nothing_to_say_for_the_test_model_a_chosen_cpu_a_gpu_or_an_unknown_engine():
    assert cpu_warning("tiny-random", "auto", CPU, 81, 832, 480, 2) is None
    assert cpu_warning("wan-vace-1.3b", "cpu", CPU, 81, 832, 480, 30) is None  # chosen knowingly in the preferences
    assert cpu_warning("wan-vace-1.3b", "auto", GPU, 81, 832, 480, 30) is None
    assert cpu_warning("wan-vace-1.3b", "auto", MAC, 81, 832, 480, 30) is None
    assert cpu_warning("wan-vace-1.3b", "auto", None, 81, 832, 480, 30) is None  # judged when the engine says hello


def test_a_model_without_known_costs_still_warns():
    assert "takes many hours" in cpu_warning("my-studio/custom-vace", "auto", CPU, 81, 832, 480, 30)


def test_the_rough_time_follows_the_work():
    base = rough_cpu_seconds("wan-vace-1.3b", 81, 832, 480, 30)
    assert 2 * 3600 < base < 48 * 3600
    assert rough_cpu_seconds("wan-vace-1.3b", 81, 832, 480, 60) == 2 * base
    assert rough_cpu_seconds("wan-vace-1.3b", 81, 832, 480, 30, guidance=False) == base / 2
    assert rough_cpu_seconds("wan-vace-1.3b", 81, 1664, 960, 30) == base  # scaled down to the working size first
    assert rough_cpu_seconds("wan-vace-1.3b", 145, 832, 480, 30) == 2 * base  # two windows of 81 frames
    assert rough_cpu_seconds("wan-vace-14b", 81, 832, 480, 30) > 5 * base
    assert rough_cpu_seconds("wan-vace-1.3b", 9, 832, 480, 30) < base / 10  # attention grows with the square of the tokens
    assert rough_cpu_seconds("folder/of/weights", 81, 832, 480, 30) is None
