"""wsi.dicom_tags.TagReader: one reader for Orthanc short and full tags and DICOMweb JSON."""

import base64

import pytest
from pydicom.dataset import Dataset
from wsi.dicom_tags import TagReader

SHORT = {"0028,0010": "256", "0028,0030": "0.00025\\0.0005", "0008,0008": "ORIGINAL\\PRIMARY\\VOLUME ",
         "0048,0105": [{"0048,0106": "p1", "0028,2000": None}], "0028,1201": None}
FULL = {"0028,0010": {"Name": "Rows", "Type": "String", "Value": "256"},
        "0028,0030": {"Name": "PixelSpacing", "Type": "String", "Value": "0.00025\\0.0005"},
        "0008,0008": {"Name": "ImageType", "Type": "String", "Value": "ORIGINAL\\PRIMARY\\VOLUME "},
        "0048,0105": {"Name": "OpticalPathSequence", "Type": "Sequence",
                      "Value": [{"0048,0106": {"Name": "OpticalPathIdentifier", "Type": "String", "Value": "p1"},
                                 "0028,2000": {"Name": "ICCProfile", "Type": "Null", "Value": None}}]},
        "0028,1201": {"Name": "RedPaletteColorLookupTableData", "Type": "Null", "Value": None}}


def dicomweb() -> dict:
    ds = Dataset()  # pydicom writes the DICOMweb form (PS3.18 F.2)
    ds.Rows, ds.PixelSpacing, ds.ImageType = 256, [0.00025, 0.0005], ["ORIGINAL", "PRIMARY", "VOLUME"]
    item = Dataset()
    item.OpticalPathIdentifier, item.ICCProfile = "p1", b"icc!"
    ds.OpticalPathSequence = [item]
    ds.RedPaletteColorLookupTableData = b"\1\2"
    return ds.to_json_dict()


@pytest.mark.parametrize("tags", [SHORT, FULL, dicomweb()], ids=["short", "full", "dicomweb"])
def test_the_three_forms_read_alike(tags):
    get = TagReader(tags)
    assert get.integer("0028,0010") == 256 and get.integer("0028,0011", 7) == 7
    assert get.numbers("0028,0030") == [0.00025, 0.0005]
    assert get.text("0008,0008").split("\\")[2] == "VOLUME"
    assert get.item("0048,0105").text("0048,0106") == "p1"
    assert [i.text("0048,0106") for i in get.items("0048,0105")] == ["p1"]
    assert get.item("0048,0105").present("0028,2000")  # binary: null in Orthanc's JSON, yet present
    assert get.present("0028,1201") and not get.present("0028,1202")
    assert get.text("0048,0105") == ""  # a sequence has no text


def test_inline_binary_and_key_spellings():
    get = TagReader({"00281201": {"vr": "OW", "InlineBinary": base64.b64encode(b"\0\1").decode()},
                     "0028-0004": "RGB", "0048,021A": "x"})
    assert get.raw("0028,1201") == b"\0\1"
    assert get.text("0028,0004") == "RGB" and get.text("0048,021a") == "x" and get.has("0048-021A")


@pytest.mark.parametrize("value", ["abc", "1\\x", "nan", "inf", "", None, [{"a": 1}]])
def test_bad_numbers_are_absent_not_errors(value):
    get = TagReader({"0028,0010": value})
    assert get.numbers("0028,0010") == []
    assert get.integer("0028,0010", 5) == 5


def test_decimal_integer_is_truncated_and_missing_items_are_empty():
    get = TagReader({"0028,0008": "12.0\\3", "0048,0105": []})
    assert get.integer("0028,0008") == 12
    assert get.item("0048,0105").text("0048,0106", "none") == "none"
    assert get.item("9999,9999").items("0048,0106") == []


@pytest.mark.parametrize("key", ["5200,9230", "52009230", "5200-9230", "5200,9230".upper()])
def test_without_drops_every_spelling_of_a_tag(key):
    tags = {key: [{}], "0028,0010": "256"}
    assert TagReader(tags).without("5200,9230") == {"0028,0010": "256"}
    assert key in tags  # the reader's dataset is left as it was


@pytest.mark.parametrize(("value", "expected"), [("257", 257), (" 12 ", 12), ("2.9", 2), ("12\\13", 12),
                                                 ("nan", 7), ("", 7), ("9" * 5000, 7), ("x", 7)])
def test_integer_reads_text_alike_on_either_path(value, expected):
    assert TagReader({"0028,0010": value}).integer("0028,0010", 7) == expected
