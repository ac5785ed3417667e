"""Ray Serve: the model behind HTTP (sample, encode, decode, interpolate, attribute) with dynamic batching.

Import ``raymvae.serve.app`` for the application (it imports Ray Serve);
``service`` and ``schemas`` hold the endpoint logic and bodies without Ray.
"""
