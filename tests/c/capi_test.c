/* The C API (kiln/kiln_c.h) from C11: yolox_nano at 1x3x64x64 against ONNX Runtime, the same
 * model opened from bytes, and the error paths with their messages.
 *
 *   capi_test MODEL.onnx EXPECTED.bin CACHE_DIR
 *
 * EXPECTED.bin: ORT's output 0 for the input pattern below (tests/c/ort_expected.py). */
#include <kiln/kiln_c.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; kiln_last_error: %s\n", __FILE__, __LINE__, #cond, \
              kiln_last_error());                                                                  \
      ++failures;                                                                                  \
    }                                                                                              \
  } while (0)

/* A call fails with `code` and a message containing `text`. */
#define CHECK_FAILS(call, code, text)                                                              \
  do {                                                                                             \
    kiln_status st_ = (call);                                                                      \
    if (st_ != (code) || !strstr(kiln_last_error(), (text))) {                                     \
      fprintf(stderr, "%s:%d: %s gave status %d, message \"%s\"; expected %d with \"%s\"\n",       \
              __FILE__, __LINE__, #call, (int)st_, kiln_last_error(), (int)(code), (text));        \
      ++failures;                                                                                  \
    }                                                                                              \
  } while (0)

static void *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *p = malloc(n > 0 ? (size_t)n : 1);
  *size = fread(p, 1, (size_t)n, f);
  fclose(f);
  return p;
}

enum { N = 1, C = 3, H = 64, W = 64, BOXES = 84, FIELDS = 85 };

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s MODEL.onnx EXPECTED.bin CACHE_DIR\n", argv[0]);
    return 2;
  }
  const char *model = argv[1];
  size_t expected_size = 0;
  float *expected = read_file(argv[2], &expected_size);
  if (!expected || expected_size != sizeof(float) * BOXES * FIELDS) {
    fprintf(stderr, "%s: cannot read %d floats\n", argv[2], BOXES * FIELDS);
    return 2;
  }

  CHECK(strncmp(kiln_version(), "kiln ", 5) == 0);
  CHECK(strcmp(kiln_dtype_name(KILN_F32), "f32") == 0 && kiln_dtype_size(KILN_F16) == 2);
  CHECK(strcmp(kiln_dtype_name((kiln_dtype)42), "?") == 0 && kiln_dtype_size((kiln_dtype)42) == 0);

  int64_t shape[4] = {N, C, H, W};
  kiln_options *opt = kiln_options_create();
  CHECK(opt != NULL);
  CHECK(kiln_options_set_threads(opt, 2) == KILN_OK);
  CHECK(kiln_options_set_cache_dir(opt, argv[3]) == KILN_OK);
  CHECK(kiln_options_set_input_shape(opt, "images", shape, 4) == KILN_OK);

  kiln_session *s = NULL;
  if (kiln_session_open(model, opt, &s) != KILN_OK) {
    fprintf(stderr, "open %s: %s\n", model, kiln_last_error());
    return 1;
  }
  CHECK(kiln_session_input_count(s) == 1 && kiln_session_output_count(s) == 1);
  kiln_tensor_info info;
  CHECK(kiln_session_input(s, 0, &info) == KILN_OK);
  CHECK(strcmp(info.name, "images") == 0 && info.dtype == KILN_F32 && info.rank == 4);
  CHECK(info.shape[0] == N && info.shape[1] == C && info.shape[2] == H && info.shape[3] == W);
  CHECK(kiln_session_output(s, 0, &info) == KILN_OK);
  CHECK(strcmp(info.name, "output") == 0 && info.dtype == KILN_F32 && info.rank == 3);
  CHECK(info.shape[0] == 1 && info.shape[1] == BOXES && info.shape[2] == FIELDS);

  /* The input pattern of tests/c/ort_expected.py. */
  static float x[N * C * H * W];
  for (long i = 0; i < N * C * H * W; ++i)
    x[i] = (float)(i * 37 % 255) / 255.0f;
  static float y[BOXES * FIELDS], y2[BOXES * FIELDS], y3[BOXES * FIELDS];
  kiln_input in = {"images", KILN_F32, shape, 4, x, sizeof x};
  kiln_output out = {NULL, y, sizeof y};
  CHECK(kiln_session_run(s, &in, 1, &out, 1) == KILN_OK);
  /* numpy.allclose(kiln, ort, rtol=1e-3, atol=1e-3), as tests/models/check_model.py for fp32. */
  int bad = 0;
  double max_diff = 0;
  for (int i = 0; i < BOXES * FIELDS; ++i) {
    double d = fabs((double)y[i] - expected[i]);
    max_diff = d > max_diff ? d : max_diff;
    bad += !(d <= 1e-3 + 1e-3 * fabs(expected[i]));
  }
  printf("kiln vs ONNX Runtime: %d of %d values outside tolerance, max |diff| %.3g\n", bad,
         BOXES * FIELDS, max_diff);
  CHECK(bad == 0);

  /* Again by name, into a bigger buffer (the shape is known now: written in place). */
  static float big[BOXES * FIELDS + 16];
  big[BOXES * FIELDS] = -7.0f;
  kiln_output by_name = {"output", big, sizeof big};
  kiln_input by_position = {NULL, KILN_F32, shape, 4, x, sizeof x};
  CHECK(kiln_session_run(s, &by_position, 1, &by_name, 1) == KILN_OK);
  CHECK(memcmp(big, y, sizeof y) == 0 && big[BOXES * FIELDS] == -7.0f);
  /* No outputs asked for: runs, writes nothing. */
  CHECK(kiln_session_run(s, &in, 1, NULL, 0) == KILN_OK);

  /* The same model from memory: the same schedule (from the cache folder), the same values. */
  size_t bytes_size = 0;
  void *bytes = read_file(model, &bytes_size);
  CHECK(bytes != NULL);
  kiln_session *m = NULL;
  CHECK(kiln_session_open_bytes(bytes, bytes_size, opt, &m) == KILN_OK);
  free(bytes); /* the session copied them */
  kiln_options_destroy(opt);
  kiln_output out2 = {NULL, y2, sizeof y2};
  CHECK(m && kiln_session_run(m, &in, 1, &out2, 1) == KILN_OK);
  CHECK(memcmp(y, y2, sizeof y) == 0);

  /* Another input shape compiles another schedule; the output shape follows it. */
  int64_t shape32[4] = {1, 3, 32, 32};
  kiln_input in32 = {"images", KILN_F32, shape32, 4, x, sizeof(float) * 3 * 32 * 32};
  kiln_output out32 = {NULL, y3, sizeof y3};
  CHECK(kiln_session_run(m, &in32, 1, &out32, 1) == KILN_OK);
  CHECK(kiln_session_output(m, 0, &info) == KILN_OK && info.shape[1] == 21 && info.shape[2] == 85);

  /* ---- errors: a status code and a one-line message naming what is wrong ---- */
  kiln_session *none = (kiln_session *)&failures; /* must be reset to NULL on failure */
  CHECK_FAILS(kiln_session_open("no/such/model.onnx", NULL, &none), KILN_ERROR_OPEN,
              "no/such/model.onnx: cannot open file");
  CHECK(none == NULL);
  kiln_options *bad_opt = kiln_options_create();
  CHECK(kiln_options_set_target(bad_opt, "tpu") == KILN_OK);
  CHECK_FAILS(kiln_session_open(model, bad_opt, &none), KILN_ERROR_OPEN,
              "target 'tpu' is not available");
  kiln_options_destroy(bad_opt);
  CHECK_FAILS(kiln_session_open(NULL, NULL, &none), KILN_ERROR_INVALID_ARGUMENT,
              "kiln_session_open: path is NULL");
  CHECK_FAILS(kiln_session_open_bytes("not a model", 11, NULL, &none), KILN_ERROR_OPEN, "<memory>");
  CHECK_FAILS(kiln_session_open_bytes("\x89KILN\r\n\x1a....", 12, NULL, &none), KILN_ERROR_OPEN,
              "a .kiln file in memory is not supported; open it by path");
  CHECK_FAILS(kiln_options_set_threads(NULL, 1), KILN_ERROR_INVALID_ARGUMENT, "options is NULL");
  int64_t zero_dim[2] = {1, 0};
  opt = kiln_options_create();
  CHECK_FAILS(kiln_options_set_input_shape(opt, "images", zero_dim, 2), KILN_ERROR_INVALID_ARGUMENT,
              "kiln_options_set_input_shape: input 'images' dimension 1 is 0");
  kiln_options_destroy(opt);

  CHECK_FAILS(kiln_session_input(s, 1, &info), KILN_ERROR_INVALID_ARGUMENT,
              "kiln_session_input: index 1 is out of range (1)");
  kiln_input short_in = {"images", KILN_F32, shape, 4, x, sizeof x - 4};
  CHECK_FAILS(kiln_session_run(s, &short_in, 1, &out, 1), KILN_ERROR_BUFFER_SIZE,
              "kiln_session_run: input 'images' is f32 1x3x64x64: 49152 bytes, but size is 49148");
  kiln_input stranger = {"pixels", KILN_F32, shape, 4, x, sizeof x};
  CHECK_FAILS(kiln_session_run(s, &stranger, 1, &out, 1), KILN_ERROR_INVALID_ARGUMENT,
              "kiln_session_run: input 'pixels' is not an input of the model");
  kiln_input bad_type = {"images", (kiln_dtype)42, shape, 4, x, sizeof x};
  CHECK_FAILS(kiln_session_run(s, &bad_type, 1, &out, 1), KILN_ERROR_INVALID_ARGUMENT,
              "dtype 42 is not a kiln_dtype");
  kiln_input wrong_type = {"images", KILN_I32, shape, 4, x, sizeof x};
  CHECK_FAILS(kiln_session_run(s, &wrong_type, 1, &out, 1), KILN_ERROR_RUN, "images");
  kiln_output small = {NULL, y3, sizeof y3 - 4};
  y3[0] = 12345.0f;
  CHECK_FAILS(kiln_session_run(s, &in, 1, &small, 1), KILN_ERROR_BUFFER_SIZE,
              "kiln_session_run: output 'output' is f32 1x84x85: 28560 bytes, but size is 28556");
  CHECK(y3[0] == 12345.0f); /* left unwritten */
  kiln_output extra[2] = {{NULL, y, sizeof y}, {NULL, y2, sizeof y2}};
  CHECK_FAILS(kiln_session_run(s, &in, 1, extra, 2), KILN_ERROR_INVALID_ARGUMENT,
              "kiln_session_run: output 1 is not an output of the model");
  CHECK_FAILS(kiln_session_run(s, NULL, 1, &out, 1), KILN_ERROR_INVALID_ARGUMENT,
              "kiln_session_run: session, inputs or outputs is NULL");
  /* The session still works after failed runs. */
  memset(y2, 0, sizeof y2);
  CHECK(kiln_session_run(s, &in, 1, &out2, 1) == KILN_OK && memcmp(y, y2, sizeof y) == 0);

  kiln_session_close(m);
  kiln_session_close(s);
  kiln_session_close(NULL);
  kiln_options_destroy(NULL);
  free(expected);
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  else
    printf("C API: all checks passed\n");
  return failures ? 1 : 0;
}
