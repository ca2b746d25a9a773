# Tests driven from Python: op tests and whole models against ONNX Runtime, CLI error tests.
# They use the venv made by scripts/setup.sh (KILN_PYTHON, set in python/CMakeLists.txt).
set(KILN_SHARED_DIR ${PROJECT_SOURCE_DIR}/../shared CACHE PATH "The team's shared folder (models, images)")
set(KILN_TEST_ENV KILN=$<TARGET_FILE:kiln> KILN_SHARED=${KILN_SHARED_DIR} ${KILN_VERIFY_ENV})

foreach(suite ops cli inspect detect)
  add_test(NAME py_${suite}
           COMMAND ${KILN_PYTHON} -m pytest -q -p no:cacheprovider ${PROJECT_SOURCE_DIR}/tests/${suite})
  set_tests_properties(py_${suite} PROPERTIES ENVIRONMENT "${KILN_TEST_ENV}" TIMEOUT 900)
endforeach()

# The Python module (python/, built when the venv has nanobind): every shared model through
# kiln.Session against ORT, threads, errors, zero copy (py_module); then `pip install` of the
# repository into a fresh venv, the models run there (py_install; after py_module, whose
# compiles it loads from the shared cache folder). Its pip build uses this build's compilers
# (ccache tells c++ from g++), so it finds this build's objects in ccache.
if(TARGET _kiln)
  set(KILN_PY_ENV KILN_SHARED=${KILN_SHARED_DIR} KILN_WORK=${PROJECT_BINARY_DIR}/models
      KILN_PY_CACHE=${PROJECT_BINARY_DIR}/python/cache ${KILN_VERIFY_ENV})
  add_test(NAME py_module COMMAND ${KILN_PYTHON} -m pytest -q -p no:cacheprovider
                                  ${PROJECT_SOURCE_DIR}/tests/python/test_module.py)
  set_tests_properties(py_module PROPERTIES TIMEOUT 900 ENVIRONMENT
                       "PYTHONPATH=${PROJECT_BINARY_DIR}/python;${KILN_PY_ENV}")
  add_test(NAME py_install COMMAND ${KILN_PYTHON} -m pytest -q -p no:cacheprovider
                                   ${PROJECT_SOURCE_DIR}/tests/python/test_install.py)
  set_tests_properties(py_install PROPERTIES DEPENDS py_module TIMEOUT 1200 ENVIRONMENT
                       "KILN_PY_INSTALL=${PROJECT_BINARY_DIR}/python/install;KILN_PY_BUILD=${PROJECT_BINARY_DIR}-pip;CC=${CMAKE_C_COMPILER};CXX=${CMAKE_CXX_COMPILER};${KILN_PY_ENV}")
endif()

# One test per model, so a failure names the model. Exit code 77 = skipped (no shared folder).
set(KILN_MODELS yolov8n_fp32_recon yolov8n-seg_320_fp32_recon yolov5n_fp32_cast yolov5n_fp16
    yolox_nano int8/yolov8n_int8_dynamic int8/yolov8n_int8_qdq int8/yolov8n-seg_320_int8_dynamic)
# The opencl model tests only where the opencl target is built (KILN_OPENCL).
set(KILN_MODEL_TARGETS reference cpu)
if(KILN_OPENCL)
  list(APPEND KILN_MODEL_TARGETS opencl)
endif()
foreach(m ${KILN_MODELS})
  string(REPLACE "/" "_" tname ${m})
  foreach(target ${KILN_MODEL_TARGETS})
    add_test(NAME model_${target}_${tname}
             COMMAND ${KILN_PYTHON} ${PROJECT_SOURCE_DIR}/tests/models/check_model.py
                     ${KILN_SHARED_DIR}/models/${m}.onnx.xz --kiln $<TARGET_FILE:kiln>
                     --work ${PROJECT_BINARY_DIR}/models --target ${target})
    set_tests_properties(model_${target}_${tname} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900
                         ENVIRONMENT "${KILN_VERIFY_ENV}")
  endforeach()
  # Pass configurations against ORT on YOLOv8n: -O0, and -O3 with each single pass disabled.
  if(m STREQUAL "yolov8n_fp32_recon")
    foreach(passes O0 O3,-fold O3,-dce O3,-cse O3,-bnfold O3,-fuse O3,-ewfuse O3,-layout O3,-concat O3,-tile
                    O3,-memplan)
      string(REPLACE ",-" "_no_" pname ${passes})
      add_test(NAME model_cpu_${tname}_passes_${pname}
               COMMAND ${KILN_PYTHON} ${PROJECT_SOURCE_DIR}/tests/models/check_model.py
                       ${KILN_SHARED_DIR}/models/${m}.onnx.xz --kiln $<TARGET_FILE:kiln>
                       --work ${PROJECT_BINARY_DIR}/models --target cpu --passes ${passes})
      set_tests_properties(model_cpu_${tname}_passes_${pname} PROPERTIES SKIP_RETURN_CODE 77
                           TIMEOUT 900 ENVIRONMENT "${KILN_VERIFY_ENV}")
    endforeach()
  endif()
endforeach()

# --precision: fp32 models computed in f16 (CPU: AVX512-FP16, skipped on CPUs without it; PoCL:
# f16 storage) and bf16, against fp32 ORT with check_model.py's fp16 tolerance rule.
# (YOLOX-Nano's f16 run is checked on real images in tests/detect: on check_model's uniform
# noise input its raw head outputs sit where f16 rounding moves them by more than the rule.)
foreach(spec yolov8n_fp32_recon:cpu:f16 yolov8n_fp32_recon:cpu:bf16 yolov8n_fp32_recon:opencl:f16)
  string(REPLACE ":" ";" parts ${spec})
  list(GET parts 0 m)
  list(GET parts 1 target)
  list(GET parts 2 precision)
  if(target STREQUAL "opencl" AND NOT KILN_OPENCL)
    continue()
  endif()
  add_test(NAME model_${target}_${m}_${precision}
           COMMAND ${KILN_PYTHON} ${PROJECT_SOURCE_DIR}/tests/models/check_model.py
                   ${KILN_SHARED_DIR}/models/${m}.onnx.xz --kiln $<TARGET_FILE:kiln>
                   --work ${PROJECT_BINARY_DIR}/models --target ${target} --precision ${precision})
  set_tests_properties(model_${target}_${m}_${precision} PROPERTIES SKIP_RETURN_CODE 77
                       TIMEOUT 900 ENVIRONMENT "${KILN_VERIFY_ENV}")
endforeach()

# QOperator and per-channel QDQ models made at test time from the fp32 models with ONNX
# Runtime's quantizer (tests/models/make_qop_models.py into build/models/qop; never committed):
# made once by the model_qop_make fixture, then compared with ORT like the models above, on
# the reference interpreter (a few seconds each) and, for yolov8n_qop, the CPU. The YOLOX
# models get their 0-255 input range and each other as the second noise floor (the QDQ twin
# is the float form of the QOperator graph: check_model.py's docstring).
add_test(NAME model_qop_make
         COMMAND ${KILN_PYTHON} ${PROJECT_SOURCE_DIR}/tests/models/make_qop_models.py
                 --kiln $<TARGET_FILE:kiln> --shared ${KILN_SHARED_DIR} --work ${PROJECT_BINARY_DIR}/models)
set_tests_properties(model_qop_make PROPERTIES FIXTURES_SETUP qop_models SKIP_RETURN_CODE 77
                     TIMEOUT 900 ENVIRONMENT "${KILN_VERIFY_ENV}")
set(KILN_QOP_MODELS yolov8n_qop yolov8n_qop_perchannel yolov8n_qdq_perchannel yolov8n-seg_320_qop
    yolox_nano_qop yolox_nano_qdq)
foreach(m ${KILN_QOP_MODELS})
  set(extra "")
  if(m STREQUAL "yolox_nano_qop")
    set(extra --input-scale 255 --floor-model ${PROJECT_BINARY_DIR}/models/qop/yolox_nano_qdq.onnx)
  elseif(m STREQUAL "yolox_nano_qdq")
    set(extra --input-scale 255 --floor-model ${PROJECT_BINARY_DIR}/models/qop/yolox_nano_qop.onnx)
  endif()
  set(targets reference)
  if(m STREQUAL "yolov8n_qop") # uint8 MaxPool, Resize, Split, Slice between the QLinear ops
    list(APPEND targets cpu)
  endif()
  foreach(target ${targets})
    add_test(NAME model_${target}_qop_${m}
             COMMAND ${KILN_PYTHON} ${PROJECT_SOURCE_DIR}/tests/models/check_model.py
                     ${PROJECT_BINARY_DIR}/models/qop/${m}.onnx --kiln $<TARGET_FILE:kiln>
                     --work ${PROJECT_BINARY_DIR}/models --target ${target} ${extra})
    set_tests_properties(model_${target}_qop_${m} PROPERTIES FIXTURES_REQUIRED qop_models
                         SKIP_RETURN_CODE 77 TIMEOUT 900 ENVIRONMENT "${KILN_VERIFY_ENV}")
  endforeach()
endforeach()

# The larger models (../shared/models/scale: Conv weights generated into build/models/scale by
# make_scale_models.py), compiled for the CPU against ORT. yolov8s runs by default (about 40 s
# here); the others only with KILN_SCALE_MODELS=1 in the environment (several minutes; label
# `scale` selects all four: KILN_SCALE_MODELS=1 ctest -L scale).
foreach(m yolov8s yolov8m yolo11s yolo11m)
  set(only_if "")
  if(NOT m STREQUAL "yolov8s")
    set(only_if --only-if-env KILN_SCALE_MODELS)
  endif()
  add_test(NAME model_cpu_${m}
           COMMAND ${KILN_PYTHON} ${PROJECT_SOURCE_DIR}/tests/models/check_model.py
                   ${KILN_SHARED_DIR}/models/scale/${m}.skel.onnx --kiln $<TARGET_FILE:kiln>
                   --work ${PROJECT_BINARY_DIR}/models --target cpu ${only_if})
  set_tests_properties(model_cpu_${m} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1800 LABELS scale
                       ENVIRONMENT "${KILN_VERIFY_ENV}")
endforeach()

# Formatting is checked, never a review topic.
find_program(CLANG_FORMAT clang-format)
if(CLANG_FORMAT)
  file(GLOB_RECURSE KILN_FORMATTED_SOURCES CONFIGURE_DEPENDS
       ${PROJECT_SOURCE_DIR}/ir/*.cpp ${PROJECT_SOURCE_DIR}/ir/*.h ${PROJECT_SOURCE_DIR}/frontend/*.cpp
       ${PROJECT_SOURCE_DIR}/frontend/*.h ${PROJECT_SOURCE_DIR}/tools/*.cpp ${PROJECT_SOURCE_DIR}/tools/*.h
       ${PROJECT_SOURCE_DIR}/passes/*.cpp ${PROJECT_SOURCE_DIR}/passes/*.h
       ${PROJECT_SOURCE_DIR}/codegen/*.h ${PROJECT_SOURCE_DIR}/codegen/llvm/*.cpp
       ${PROJECT_SOURCE_DIR}/codegen/llvm/*.h ${PROJECT_SOURCE_DIR}/codegen/opencl/*.cpp
       ${PROJECT_SOURCE_DIR}/codegen/opencl/*.h ${PROJECT_SOURCE_DIR}/runtime/*.cpp
       ${PROJECT_SOURCE_DIR}/runtime/*.h ${PROJECT_SOURCE_DIR}/runtime/include/kiln/*.h
       ${PROJECT_SOURCE_DIR}/examples/*.cpp ${PROJECT_SOURCE_DIR}/tests/*.cpp ${PROJECT_SOURCE_DIR}/tests/*.h
       ${PROJECT_SOURCE_DIR}/bench/*.cpp ${PROJECT_SOURCE_DIR}/bench/*.h
       ${PROJECT_SOURCE_DIR}/python/*.cpp ${PROJECT_SOURCE_DIR}/examples/*.c ${PROJECT_SOURCE_DIR}/tests/c/*.c
       ${PROJECT_SOURCE_DIR}/tests/consumer/*.cpp)
  add_test(NAME format COMMAND ${CLANG_FORMAT} --dry-run --Werror ${KILN_FORMATTED_SOURCES})
endif()
