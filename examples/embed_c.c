/* An application embedding Kiln through its C API only (kiln/kiln_c.h): open a model, run it on
 * a synthetic image, print every output's name, shape and first value.
 *
 *   cc embed_c.c $(pkg-config --cflags --libs kiln) -o embed_c
 *   ./embed_c models/yolox_nano.onnx 416 */
#include <kiln/kiln_c.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.onnx [SIZE]\n", argv[0]);
    return 2;
  }
  int64_t size = argc > 2 ? atoll(argv[2]) : 416;
  int64_t shape[4] = {1, 3, size, size};
  kiln_options *opt = kiln_options_create();
  kiln_options_set_input_shape(opt, "images", shape, 4);
  kiln_session *s = NULL;
  kiln_status st = kiln_session_open(argv[1], opt, &s);
  kiln_options_destroy(opt);
  if (st != KILN_OK) {
    fprintf(stderr, "%s\n", kiln_last_error());
    return 1;
  }

  /* One f32 input named "images" (YOLO); a real application checks with kiln_session_input. */
  size_t n = (size_t)(3 * size * size);
  float *pixels = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; ++i)
    pixels[i] = (float)(i % 997) / 997.0f;
  kiln_input in = {"images", KILN_F32, shape, 4, pixels, n * sizeof(float)};

  /* Outputs of the opened shape: one caller-owned buffer each. */
  size_t n_out = kiln_session_output_count(s);
  kiln_output *out = calloc(n_out, sizeof(kiln_output));
  for (size_t o = 0; o < n_out; ++o) {
    kiln_tensor_info info;
    kiln_session_output(s, o, &info);
    size_t bytes = kiln_dtype_size(info.dtype);
    for (size_t d = 0; d < info.rank; ++d)
      bytes *= (size_t)info.shape[d];
    out[o] = (kiln_output){info.name, malloc(bytes), bytes};
  }

  if (kiln_session_run(s, &in, 1, out, n_out) != KILN_OK) {
    fprintf(stderr, "%s\n", kiln_last_error());
    return 1;
  }
  printf("%s\n", kiln_version());
  for (size_t o = 0; o < n_out; ++o) {
    kiln_tensor_info info;
    kiln_session_output(s, o, &info);
    printf("  %s %s[", info.name, kiln_dtype_name(info.dtype));
    for (size_t d = 0; d < info.rank; ++d)
      printf("%s%lld", d ? "x" : "", (long long)info.shape[d]);
    printf("]");
    if (info.dtype == KILN_F32)
      printf("  first %g", ((const float *)out[o].data)[0]);
    printf("\n");
    free(out[o].data);
  }
  free(out);
  free(pixels);
  kiln_session_close(s);
  return 0;
}
