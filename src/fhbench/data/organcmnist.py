"""OrganCMNIST: abdominal CT, coronal slices, 11 organs (MedMNIST v3, 224 px)."""

from fhbench.data.medmnist_family import MedMNISTDataset

DATASET = MedMNISTDataset("organcmnist")
