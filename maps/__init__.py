"""Folium maps: functions that return HTML; they never write files or load from a CDN."""
