"""The words the extractor looks for, as data, apart from the rules that use them.

Each list is a dict from a language code (ISO 639-1: "en", "de", "ja", …) to the words of that
language; a word shared by several languages is listed under each. Words are lower-case, and
how a list is matched (as a substring, a whole word, a stem) is said where it is defined.
`codes` holds the code keywords, `decoys` the words that make a number no code, `links` the
words of a call to action and of links that are never one.
"""
