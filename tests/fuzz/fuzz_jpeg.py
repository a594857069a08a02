"""atheris fuzz target over the JPEG readers: any input must give pixels/coefficients or a ValueError.

Run directly: python tests/fuzz/fuzz_jpeg.py [corpus_dir] -runs=N (libFuzzer flags). The C++ core is not
built with -fsanitize=fuzzer, so atheris sees only Python coverage: mutations of a corpus of valid JPEGs
(tests/test_jpeg_errors.py::test_fuzz_target_runs_clean writes one) are what drive the native parser into its
corners.
"""

import sys

import atheris

with atheris.instrument_imports():
    from codeclens import jpeg


def test_one_input(data: bytes) -> None:
    for call in (jpeg.probe, jpeg.decode, jpeg.read_coefficients):
        try:
            call(data)
        except ValueError:  # JpegError is a ValueError
            pass
    try:
        jpeg.decode(data, mode="gray", scale=4, strict=True)
    except ValueError:
        pass


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
