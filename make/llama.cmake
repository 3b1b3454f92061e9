# Injected into llama-cpp-python's CMake build (CMAKE_PROJECT_INCLUDE runs after each project()
# call): build only what `llama_cpp` loads for text generation.
#
# - llama.cpp's "common" library (argument parsing, downloads, chat parsers) and the HTTP library
#   only it uses: llama-cpp-python forces them on for its multimodal library, which LLAVA_BUILD=OFF
#   leaves out, so nothing installed needs them (they were about a third of the compile time).
# - The llama library itself (one C++ file per model architecture, ~190 files) is compiled as a
#   unity build, eight files per compiler run. ggml is left as it is (its files share static
#   names and cannot be merged).
if(PROJECT_NAME STREQUAL "llama.cpp")
  set(LLAMA_BUILD_COMMON OFF)  # a normal variable: it hides the cache entry forced ON above
endif()
if(NOT COMMAND _cqa_unity_llama)
  function(_cqa_unity_llama)
    if(TARGET llama)
      set_target_properties(llama PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8)
    endif()
  endfunction()
  cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _cqa_unity_llama)
endif()
