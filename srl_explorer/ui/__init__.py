"""Streamlit helpers shared by app.py and pages/ (the only package modules that import streamlit)."""
