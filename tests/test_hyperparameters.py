"""Hyperparameter validation and serialisation, ported from the SageMaker SDK's tests/unit/test_ntm.py
tables, plus the two SDK coercion bugs we fix and our scikit-learn-style messages."""

import numpy as np
import pytest

from ntm import NTM, InvalidParameterError, RecordSet

ROLE = "myrole"
INSTANCE_COUNT = 1
INSTANCE_TYPE = "ml.c4.xlarge"  # the SDK's tables use it; building an estimator needs no backend
NUM_TOPICS = 5
COMMON_TRAIN_ARGS = {"role": ROLE, "instance_count": INSTANCE_COUNT, "instance_type": INSTANCE_TYPE}
ALL_REQ_ARGS = dict({"num_topics": NUM_TOPICS}, **COMMON_TRAIN_ARGS)


def test_init_required_positional():
    ntm = NTM(ROLE, INSTANCE_COUNT, INSTANCE_TYPE, NUM_TOPICS)
    assert (ntm.role, ntm.instance_count, ntm.instance_type, ntm.num_topics) == (
        ROLE, INSTANCE_COUNT, INSTANCE_TYPE, NUM_TOPICS)


def test_init_required_named():
    ntm = NTM(**ALL_REQ_ARGS)
    assert ntm.role == ROLE and ntm.instance_count == INSTANCE_COUNT
    assert ntm.instance_type == INSTANCE_TYPE and ntm.num_topics == NUM_TOPICS


def test_seed_v1_spellings_mean_the_same_as_v2():
    ntm = NTM(role=ROLE, train_instance_count=2, train_instance_type="mock", num_topics=3)
    assert (ntm.instance_count, ntm.instance_type) == (2, "mock")
    assert (ntm.train_instance_count, ntm.train_instance_type) == (2, "mock")


@pytest.mark.parametrize("v2, v1", [("instance_count", "train_instance_count"),
                                    ("instance_type", "train_instance_type")])
def test_both_spellings_given_is_an_error(v2, v1):
    value = 1 if "count" in v2 else "mock"
    with pytest.raises(TypeError, match=f"both {v2}=.* and {v1}=.*SDK v1 spelling"):
        NTM(ROLE, num_topics=5, **{v2: value, v1: value})


def test_all_hyperparameters():
    ntm = NTM(encoder_layers=[1, 2, 3], epochs=3, encoder_layers_activation="tanh", optimizer="sgd",
              tolerance=0.05, num_patience_epochs=2, batch_norm=False, rescale_gradient=0.5, clip_gradient=0.5,
              weight_decay=0.5, learning_rate=0.5, **ALL_REQ_ARGS)
    assert ntm.hyperparameters() == dict(
        num_topics="5", encoder_layers="[1, 2, 3]", epochs="3", encoder_layers_activation="tanh",
        optimizer="sgd", tolerance="0.05", num_patience_epochs="2", batch_norm="False",
        rescale_gradient="0.5", clip_gradient="0.5", weight_decay="0.5", learning_rate="0.5")


def test_unset_hyperparameters_are_not_sent():
    assert NTM(**ALL_REQ_ARGS).hyperparameters() == {"num_topics": "5"}


@pytest.mark.parametrize("name, value", [("num_topics", "string")])
def test_required_hyper_parameters_type(name, value):
    with pytest.raises(ValueError):
        NTM(**dict(ALL_REQ_ARGS, **{name: value}))


@pytest.mark.parametrize("name, value", [("num_topics", 0), ("num_topics", 10000)])
def test_required_hyper_parameters_value(name, value):
    with pytest.raises(ValueError):
        NTM(**dict(ALL_REQ_ARGS, **{name: value}))


@pytest.mark.parametrize("name, value", [("encoder_layers", 0)])
def test_iterable_hyper_parameters_type(name, value):
    with pytest.raises(TypeError):
        NTM(**dict(ALL_REQ_ARGS, **{name: value}))


@pytest.mark.parametrize("name, value", [
    ("epochs", "string"), ("encoder_layers_activation", 0), ("optimizer", 0), ("tolerance", "string"),
    ("num_patience_epochs", "string"), ("rescale_gradient", "string"), ("clip_gradient", "string"),
    ("weight_decay", "string"), ("learning_rate", "string"),
])
def test_optional_hyper_parameters_type(name, value):
    with pytest.raises(ValueError):
        NTM(**dict(ALL_REQ_ARGS, **{name: value}))


@pytest.mark.parametrize("name, value", [
    ("epochs", 0), ("epochs", 1000), ("encoder_layers_activation", "string"), ("optimizer", "string"),
    ("tolerance", 0), ("tolerance", 0.5), ("num_patience_epochs", 0), ("num_patience_epochs", 100),
    ("rescale_gradient", 0), ("rescale_gradient", 10), ("clip_gradient", 0), ("weight_decay", -1),
    ("weight_decay", 2), ("learning_rate", 0), ("learning_rate", 2),
])
def test_optional_hyper_parameters_value(name, value):
    with pytest.raises(ValueError):
        NTM(**dict(ALL_REQ_ARGS, **{name: value}))


@pytest.mark.parametrize("name, value, message", [
    ("num_topics", 1, "The 'num_topics' parameter of NTM must be an int in the range [2, 1000]. Got 1 instead."),
    ("epochs", "string", "The 'epochs' parameter of NTM must be an int in the range [1, 100]. Got 'string' instead."),
    ("tolerance", 0.5, "The 'tolerance' parameter of NTM must be a float in the range [1e-06, 0.1]. Got 0.5 instead."),
    ("clip_gradient", 0, "The 'clip_gradient' parameter of NTM must be a float in the range [0.001, inf). "
                         "Got 0 instead."),
    ("optimizer", "adamw", "The 'optimizer' parameter of NTM must be a str among {'adagrad', 'adam', 'rmsprop', "
                           "'sgd', 'adadelta'}. Got 'adamw' instead."),
    ("epochs", 2.5, "The 'epochs' parameter of NTM must be an int in the range [1, 100]. Got 2.5 instead."),
])
def test_errors_name_the_parameter_the_range_and_the_value(name, value, message):
    with pytest.raises(InvalidParameterError) as caught:
        NTM(**dict(ALL_REQ_ARGS, **{name: value}))
    assert str(caught.value) == message
    assert caught.value.parameter == name


def test_the_sdk_message_stays_reachable():
    with pytest.raises(InvalidParameterError) as caught:
        NTM(**dict(ALL_REQ_ARGS, num_topics=1))
    assert caught.value.sdk_message == "Invalid hyperparameter value 1 for num_topics. Expecting: An integer in [2, 1000]"


def test_assignment_after_construction_is_validated_too():
    ntm = NTM(**ALL_REQ_ARGS)
    with pytest.raises(ValueError, match="'learning_rate' parameter of NTM"):
        ntm.learning_rate = 5
    assert ntm.learning_rate is None


@pytest.mark.parametrize("value, expected", [
    ("50,20", [50, 20]), ("[50, 20]", [50, 20]), (" 7 ", [7]), ((3, 4), [3, 4]), (np.array([8, 9]), [8, 9]),
])
def test_encoder_layers_strings_mean_lists_of_ints(value, expected):
    # The SDK's list("50,20") gives ['5', '0', ',', '2', '0'].
    ntm = NTM(encoder_layers=value, **ALL_REQ_ARGS)
    assert ntm.encoder_layers == expected
    assert ntm.hyperparameters()["encoder_layers"] == str(expected)


@pytest.mark.parametrize("value", ["50,x", [50, 0], [50, -1], [], "", [1.5], [True]])
def test_encoder_layers_refuses_what_is_not_positive_ints(value):
    with pytest.raises(InvalidParameterError, match="'encoder_layers' parameter of NTM must be a non-empty list"):
        NTM(encoder_layers=value, **ALL_REQ_ARGS)


@pytest.mark.parametrize("value, expected", [
    ("false", False), ("False", False), ("0", False), (0, False), ("true", True), ("TRUE", True), (1, True),
    (True, True), (np.bool_(False), False),
])
def test_batch_norm_strings_mean_what_they_say(value, expected):
    # The SDK's bool("false") is True.
    assert NTM(batch_norm=value, **ALL_REQ_ARGS).batch_norm is expected


@pytest.mark.parametrize("value", ["maybe", 2, 0.5])
def test_batch_norm_refuses_other_values(value):
    with pytest.raises(InvalidParameterError, match="'batch_norm' parameter of NTM must be a bool"):
        NTM(batch_norm=value, **ALL_REQ_ARGS)


@pytest.mark.parametrize("name, text, expected", [
    ("num_topics", "20", 20), ("epochs", "3.0", 3), ("tolerance", "0.05", 0.05), ("learning_rate", 1, 1.0),
])
def test_numeric_strings_are_coerced(name, text, expected):
    value = getattr(NTM(**dict(ALL_REQ_ARGS, **{name: text})), name)
    assert value == expected and type(value) is type(expected)


def test_hyperparameter_strings_round_trip():
    ntm = NTM(encoder_layers=[10, 5], batch_norm=True, tolerance=0.01, optimizer="adam", **ALL_REQ_ARGS)
    again = NTM(**dict(COMMON_TRAIN_ARGS, **ntm.hyperparameters()))
    assert again.hyperparameters() == ntm.hyperparameters()


def test_get_params_and_set_params_follow_scikit_learn():
    ntm = NTM(**ALL_REQ_ARGS)
    params = ntm.get_params()
    assert params["num_topics"] == 5 and params["instance_type"] == INSTANCE_TYPE
    assert "train_instance_count" not in params and "kwargs" not in params
    assert ntm.set_params(epochs=7, optimizer="adam") is ntm
    assert ntm.hyperparameters()["epochs"] == "7"
    clone = NTM(**ntm.get_params())
    assert clone.hyperparameters() == ntm.hyperparameters()
    with pytest.raises(ValueError, match="Invalid parameter 'epoch' for estimator NTM. Valid parameters are"):
        ntm.set_params(epoch=3)
    with pytest.raises(ValueError, match="'epochs' parameter of NTM"):
        ntm.set_params(epochs=0)


def test_unknown_constructor_arguments_are_refused_but_sdk_options_accepted():
    with pytest.raises(TypeError, match="unexpected keyword arguments: num_topic"):
        NTM(num_topic=3, **COMMON_TRAIN_ARGS)
    assert NTM(use_spot_instances=True, max_wait=10, **ALL_REQ_ARGS).sdk_options == {
        "use_spot_instances": True, "max_wait": 10}


PREFIX_DATA = RecordSet("s3://Some-Bucket/prefix", num_records=1, feature_dim=10, channel="train")


@pytest.mark.parametrize("size, message", [
    (0, "The 'mini_batch_size' parameter of NTM.fit must be an int in the range [1, 10000]. Got 0 instead."),
    (10001, "The 'mini_batch_size' parameter of NTM.fit must be an int in the range [1, 10000]. Got 10001 instead."),
    ("some", "The 'mini_batch_size' parameter of NTM.fit must be an int in the range [1, 10000]. Got 'some' instead."),
])
def test_mini_batch_size_outside_1_to_10000_is_refused_before_anything_runs(size, message):
    ntm = NTM(base_job_name="ntm", **dict(ALL_REQ_ARGS, instance_type="mock"))
    with pytest.raises(InvalidParameterError) as caught:
        ntm.fit(PREFIX_DATA, size)
    assert str(caught.value) == message
    assert caught.value.sdk_message == "mini_batch_size must be in [1, 10000]"
    assert ntm.latest_training_job is None
